// Listed bundle files: openat() component by component with O_NOFOLLOW (a link anywhere in the path is refused),
// lstat before the open (a FIFO or device is never opened) and fstat after (the same regular file), reads bounded by
// the recorded size, and the sha256 taken on the bytes handed back. Messages as acc.runtime.integrity's.
#include "bundle_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <vector>

#include "acc/errors.hpp"
#include "acc/sha256.hpp"
#include "json_util.hpp"

namespace acc::detail {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kChunkBytes = 1 << 20;
constexpr std::int64_t kMaxManifestBytes = 16 << 20;  // a manifest is a few kB; this bounds the read of a hostile one

/// Closes the descriptor it holds.
class Descriptor {
public:
    explicit Descriptor(int fd) : fd_(fd) {}
    ~Descriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    int get() const { return fd_; }
    void reset(int fd) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

std::string again() { return "copy the whole bundle again or " + std::string(kReexport); }

/// A read-only descriptor of the regular file relative under bundle_dir; no link is followed on the way.
int open_inside(const fs::path& bundle_dir, const std::string& relative) {
    const std::string bundle = bundle_dir.string();
    const std::string where = relative + " in bundle " + bundle;
    Descriptor dir(::open(bundle_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() < 0) {
        throw BundleError("cannot open bundle " + bundle + " (" + std::strerror(errno) +
                          "); pass the directory written by acc-export");
    }
    std::vector<std::string> parts;
    for (const fs::path& part : fs::path(relative)) parts.push_back(part.string());
    std::string shown;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const bool last = i + 1 == parts.size();
        shown += (shown.empty() ? "" : "/") + parts[i];
        struct stat info {};
        if (::fstatat(dir.get(), parts[i].c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
            throw BundleError("bundle " + bundle + " is missing file " + relative + " listed in " + kManifestName +
                              "; " + again());
        }
        if (S_ISLNK(info.st_mode)) {
            throw BundleError(shown + " in bundle " + bundle + " is a symbolic link; a bundle holds regular files only "
                              "(cp -rL copies the targets), " + again());
        }
        if (!last) {
            if (!S_ISDIR(info.st_mode)) throw BundleError(shown + " in bundle " + bundle + " is not a directory; " + again());
            const int next = ::openat(dir.get(), parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (next < 0) {
                throw BundleError("cannot open " + where + " (" + std::strerror(errno) + "); check its permissions or " +
                                  again());
            }
            dir.reset(next);
            continue;
        }
        if (!S_ISREG(info.st_mode)) throw BundleError(where + " is not a regular file; " + again());
        const int fd = ::openat(dir.get(), parts[i].c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            throw BundleError("cannot open " + where + " (" + std::strerror(errno) + "); check its permissions or " +
                              again());
        }
        struct stat opened {};
        if (::fstat(fd, &opened) != 0 || !S_ISREG(opened.st_mode) || opened.st_dev != info.st_dev ||
            opened.st_ino != info.st_ino) {
            ::close(fd);
            throw BundleError(where + " was replaced while it was opened; " + again());
        }
        return fd;
    }
    throw BundleError(where + " names a path outside the bundle; paths must be relative, without '..'");
}

/// Exactly size bytes from fd into hasher (when not null) and kept (when not null); one more byte means it grew.
void read_bounded(int fd, std::int64_t size, Sha256* hasher, std::string* kept) {
    std::vector<char> chunk(kChunkBytes);
    auto left = static_cast<std::uint64_t>(size);
    while (left > 0) {
        const ssize_t got = ::read(fd, chunk.data(), static_cast<std::size_t>(std::min<std::uint64_t>(left, kChunkBytes)));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw BundleError(std::string("read error in a bundle file (") + std::strerror(errno) + "); check the disk");
        if (got == 0) break;
        if (hasher != nullptr) hasher->update(chunk.data(), static_cast<std::size_t>(got));
        if (kept != nullptr) kept->append(chunk.data(), static_cast<std::size_t>(got));
        left -= static_cast<std::uint64_t>(got);
    }
    char extra = 0;
    if (left > 0 || ::read(fd, &extra, 1) > 0) {
        throw BundleError("a bundle file changed size while it was read (expected " + std::to_string(size) +
                          " bytes); " + again());
    }
}

}  // namespace

std::string check_listed_file(const fs::path& bundle_dir, const std::string& relative, const FileEntry& entry,
                              bool rehash, bool keep) {
    const std::string bundle = bundle_dir.string();
    const Descriptor fd(open_inside(bundle_dir, relative));
    struct stat info {};
    ::fstat(fd.get(), &info);
    if (static_cast<std::int64_t>(info.st_size) != entry.bytes) {
        throw BundleError(relative + " in bundle " + bundle + " has " + std::to_string(info.st_size) + " bytes, " +
                          kManifestName + " says " + std::to_string(entry.bytes) + " (truncated or modified); " + again());
    }
    if (!rehash && !keep) return "";
    Sha256 hasher;
    std::string bytes;
    if (keep) bytes.reserve(static_cast<std::size_t>(entry.bytes));
    read_bounded(fd.get(), entry.bytes, &hasher, keep ? &bytes : nullptr);
    const std::string actual = hasher.hex();
    if (actual != entry.sha256) {
        throw BundleError(relative + " in bundle " + bundle + " has sha256 " + actual.substr(0, 12) + "…, " +
                          kManifestName + " says " + entry.sha256.substr(0, 12) + "… (modified after export); " + again());
    }
    return bytes;
}

std::string read_manifest_bytes(const fs::path& bundle_dir) {
    const Descriptor fd(open_inside(bundle_dir, kManifestName));
    struct stat info {};
    ::fstat(fd.get(), &info);
    if (info.st_size > kMaxManifestBytes) {
        throw BundleError((bundle_dir / kManifestName).string() + " has " + std::to_string(info.st_size) +
                          " bytes, more than the " + std::to_string(kMaxManifestBytes) + " a manifest may have; " +
                          kReexport);
    }
    std::string bytes;
    read_bounded(fd.get(), info.st_size, nullptr, &bytes);
    return bytes;
}

}  // namespace acc::detail
