// SHA-256 (FIPS 180-4), self-contained so the library needs no OpenSSL: the manifest records the sha256 of every
// bundle file, and loading re-hashes each one to catch files edited or corrupted after export.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace acc {

/// Incremental hasher: update() any number of times, then hex() once.
class Sha256 {
public:
    Sha256();
    void update(const void* data, std::size_t size);
    void update(std::string_view data) { update(data.data(), data.size()); }
    /// Lower-case hex digest; finishes the hash (the object cannot be updated afterwards).
    std::string hex();

private:
    void block(const std::uint8_t* chunk);
    std::array<std::uint32_t, 8> state_;
    std::array<std::uint8_t, 64> buffer_{};
    std::size_t buffered_ = 0;
    std::uint64_t total_bytes_ = 0;
    bool finished_ = false;
};

/// Hex sha256 of a byte string.
std::string sha256_hex(std::string_view data);

}  // namespace acc
