// A bundle's ONNX graph as verified bytes, as acc.runtime.verified_graphs has it: the graph file and every
// external-data file it names (graphs/weights.bin), each listed in the manifest and checked (size, sha256) on the
// very bytes ONNX Runtime is then given. Sessions are made from these buffers, never from a path, so a file
// rewritten after the load-time check is refused when the session is made instead of being run unverified.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "acc/manifest.hpp"

namespace acc {

struct VerifiedGraph {
    std::string relative;              // the graph's bundle path ("graphs/s1.5.onnx")
    std::filesystem::path path;        // where it lives, for messages
    std::string model;                 // the graph file's bytes
    std::map<std::string, std::string> external;  // location as the graph names it -> that file's bytes
};

/// Verified bytes of graph relative and of its external data; BundleError when a file is unlisted, fails its check
/// or lies outside the bundle.
VerifiedGraph read_graph(const Manifest& manifest, const std::string& relative);

}  // namespace acc
