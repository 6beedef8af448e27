// Reading one listed bundle file by the rules of acc.runtime.integrity: opened relative to the bundle directory,
// component by component, without following links, refused unless a regular file, read up to the size the manifest
// records, and checked (size, sha256) on the very bytes returned. The one way C++ opens a bundle file, so nothing
// reaches ONNX Runtime or the tokenizer that was not checked on those bytes.
#pragma once

#include <filesystem>
#include <string>

#include "acc/manifest.hpp"

namespace acc::detail {

/// Open the listed file and check its size; with rehash or keep also its sha256, on the bytes read. Returns those
/// bytes when keep (else ""). BundleError names the file, the problem and the fix.
std::string check_listed_file(const std::filesystem::path& bundle_dir, const std::string& relative,
                              const FileEntry& entry, bool rehash, bool keep);

/// manifest.json's bytes by the same rules (no link followed, regular file only), at most 16 MiB.
std::string read_manifest_bytes(const std::filesystem::path& bundle_dir);

}  // namespace acc::detail
