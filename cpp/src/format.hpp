// Number formatting as Python's f-strings do it, so error messages and policy reasons read the same in both
// runtimes: {x:g} / {x:.3g} (printf %g), {x:.4f}, and {x!r} (shortest round-trip repr).
#pragma once

#include <string>
#include <vector>

namespace acc::detail {

/// Python f"{value:.{precision}g}".
std::string format_g(double value, int precision = 6);
/// Python f"{value:.{decimals}f}".
std::string format_f(double value, int decimals);
/// Python repr(float): shortest round-trip digits, "1.0" for integral values, "1e-05" / "1e+16" outside 1e-4..1e16.
std::string py_repr(double value);
/// Python repr(list of floats): "[1.0, 0.5]".
std::string py_repr(const std::vector<double>& values);
/// Python repr(str): 'text' (single quotes; the texts here never hold quotes or escapes).
std::string py_repr(const std::string& text);
/// Python repr(list of str): ['a', 'b'].
std::string py_repr(const std::vector<std::string>& values);

}  // namespace acc::detail
