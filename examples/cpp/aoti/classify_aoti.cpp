// classify_aoti: run an acc-deploy AOTInductor package (acc-aoti) from C++ with libtorch, no Python.
//
//   classify_aoti PACKAGE.pt2 [IDS_FILE]
//
// IDS_FILE (default: stdin) holds one tokenized input per line: the WordPiece ids with [CLS] ... [SEP], separated by
// spaces (acc::WordPieceTokenizer in cpp/ or any BERT tokenizer writes them). Each line is padded to the package's
// sequence length (metadata acc_seq_len; longer lines are an error) and lines are run in batches of at most
// acc_batch_max. Prints one line per input: the label name, then the logits (tab-separated, full precision).
// The package runs on the device it was compiled for (metadata acc_device).

#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/zeros_like.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

std::string meta_value(const std::unordered_map<std::string, std::string>& meta, const std::string& key) {
  auto it = meta.find(key);
  if (it == meta.end()) {
    throw std::runtime_error("package metadata lacks " + key + "; rebuild the package with acc-aoti");
  }
  return it->second;
}

// acc_labels is a JSON list of strings, e.g. ["negative", "positive"]; label names hold no quotes or escapes.
std::vector<std::string> parse_labels(const std::string& json) {
  std::vector<std::string> labels;
  size_t pos = 0;
  while ((pos = json.find('"', pos)) != std::string::npos) {
    size_t end = json.find('"', pos + 1);
    if (end == std::string::npos) break;
    labels.push_back(json.substr(pos + 1, end - pos - 1));
    pos = end + 1;
  }
  return labels;
}

std::vector<std::vector<int64_t>> read_ids(std::istream& in) {
  std::vector<std::vector<int64_t>> rows;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<int64_t> ids;
    int64_t id;
    while (fields >> id) ids.push_back(id);
    if (!fields.eof()) throw std::runtime_error("line " + std::to_string(rows.size() + 1) + " holds a non-integer");
    if (!ids.empty()) rows.push_back(std::move(ids));
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: classify_aoti PACKAGE.pt2 [IDS_FILE]  (ids: one tokenized input per line)\n";
    return 2;
  }
  try {
    c10::InferenceMode guard;
    torch::inductor::AOTIModelPackageLoader loader(argv[1]);
    auto meta = loader.get_metadata();
    if (meta_value(meta, "acc_format") != "acc-aoti-v1") {
      throw std::runtime_error(std::string(argv[1]) + " is not an acc-deploy AOTInductor package");
    }
    const int64_t seq_len = std::stoll(meta_value(meta, "acc_seq_len"));
    const int64_t batch_min = std::stoll(meta_value(meta, "acc_batch_min"));
    const int64_t batch_max = std::stoll(meta_value(meta, "acc_batch_max"));
    const c10::Device device(meta_value(meta, "acc_device"));
    const auto labels = parse_labels(meta_value(meta, "acc_labels"));

    std::vector<std::vector<int64_t>> rows;
    if (argc == 3) {
      std::ifstream file(argv[2]);
      if (!file) throw std::runtime_error(std::string("cannot open ") + argv[2]);
      rows = read_ids(file);
    } else {
      rows = read_ids(std::cin);
    }
    for (size_t start = 0; start < rows.size(); start += static_cast<size_t>(batch_max)) {
      const int64_t count = std::min<int64_t>(batch_max, static_cast<int64_t>(rows.size() - start));
      const int64_t batch = std::max(count, batch_min);  // pad to the package's smallest batch, drop extras below
      std::vector<int64_t> ids(static_cast<size_t>(batch * seq_len), 0), mask(ids.size(), 0);
      for (int64_t b = 0; b < batch; ++b) {
        const auto& row = rows[start + static_cast<size_t>(std::min(b, count - 1))];
        if (static_cast<int64_t>(row.size()) > seq_len) {
          throw std::runtime_error("input " + std::to_string(start + b + 1) + " has " + std::to_string(row.size()) +
                                   " tokens, the package's length is " + std::to_string(seq_len) +
                                   "; truncate it or use a package of a larger bucket");
        }
        std::copy(row.begin(), row.end(), ids.begin() + b * seq_len);
        std::fill_n(mask.begin() + b * seq_len, row.size(), int64_t{1});
      }
      auto as_tensor = [&](std::vector<int64_t>& values) {
        return at::from_blob(values.data(), {batch, seq_len}, at::kLong).to(device, /*non_blocking=*/false, /*copy=*/true);
      };
      auto input_ids = as_tensor(ids);
      std::vector<at::Tensor> inputs = {input_ids, as_tensor(mask), at::zeros_like(input_ids)};
      auto logits = loader.run(inputs)[0].to(at::kCPU, at::kFloat).contiguous();
      const float* values = logits.data_ptr<float>();
      const int64_t width = logits.size(1);
      for (int64_t b = 0; b < count; ++b) {
        const float* row = values + b * width;
        const int64_t best = std::max_element(row, row + width) - row;  // first maximum, as argmax
        std::cout << (best < static_cast<int64_t>(labels.size()) ? labels[best] : std::to_string(best));
        for (int64_t j = 0; j < width; ++j) {
          char text[32];
          std::snprintf(text, sizeof(text), "%.9g", row[j]);
          std::cout << '\t' << text;
        }
        std::cout << '\n';
      }
    }
  } catch (const std::exception& exc) {
    std::string message = exc.what();
    std::cerr << "error: " << message.substr(0, message.find('\n')) << "\n";
    return 1;
  }
  return 0;
}
