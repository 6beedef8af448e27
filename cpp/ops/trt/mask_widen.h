// int32 → int64 copy of the mask, for TensorRT graphs whose mask reaches the plugin as int32 (TensorRT < 10 had no
// INT64 tensors and cast them; some graphs still cast). The AccScore kernels read an int64 mask.
#pragma once

#include <cstdint>

namespace acc_trt {

// Enqueues out[i] = in[i] for i < count on `stream` (a cudaStream_t). nullptr, or a message when the launch failed.
const char* LaunchWidenMask(const int32_t* in, int64_t* out, int64_t count, void* stream);

}  // namespace acc_trt
