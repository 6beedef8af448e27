// The error hierarchy of the C++ runtime, mirroring acc.profiles.errors: one class per kind of failure, and
// every message one line naming the problem and the fix (the same text the Python runtime gives where it can).
#pragma once

#include <stdexcept>
#include <string>

namespace acc {

/// Base of every error the library throws on purpose; catch this to report any of them.
class AccError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A bundle that is missing, corrupted, or written by an incompatible version.
class BundleError : public AccError {
public:
    using AccError::AccError;
};

/// A request that no profile in the bundle can satisfy.
class PolicyError : public AccError {
public:
    using AccError::AccError;
};

/// Input text or token ids that cannot be processed.
class DataError : public AccError {
public:
    using AccError::AccError;
};

/// A backend or device that is not available in this build or on this machine.
class BackendError : public AccError {
public:
    using AccError::AccError;
};

/// An engine that cannot be built or loaded (or no engine runtime in this build).
class EngineBuildError : public AccError {
public:
    using AccError::AccError;
};

/// An engine built for another GPU, TensorRT flavour or TensorRT release than the ones here.
class EngineMismatchError : public EngineBuildError {
public:
    using EngineBuildError::EngineBuildError;
};

/// A speedup or profile that cannot be honoured.
class ProfileError : public AccError {
public:
    using AccError::AccError;
};

}  // namespace acc
