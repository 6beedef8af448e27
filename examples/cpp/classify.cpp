// Classify sentences with an acc-deploy bundle from C++: the program to copy into your own application.
//
//   classify BUNDLE [--speedup S | --latency-budget-ms MS | --min-accuracy A] [--best-effort] [--threads N]
//            [--digest sha256:...] [SENTENCE ...]            (no sentences: one per line on stdin)
//
// Prints one line per sentence (label, probability, the profile the policy chose and the graph's latency),
// e.g. `positive  0.9731  profile=s3  latency=1.84ms  a gorgeous, witty, seductive movie .`
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

#include "acc/runtime.hpp"

namespace {

// Usage on `out`; returns the exit status: 0 when asked for (--help, on stdout), 2 after a usage error (stderr).
int usage(const char* program, std::FILE* out, int status) {
    std::fprintf(out,
                 "usage: %s BUNDLE [--speedup S | --latency-budget-ms MS | --min-accuracy A] [--best-effort] "
                 "[--threads N] [--digest sha256:...] [SENTENCE ...]\n(no sentences: one per line on stdin; --digest: "
                 "refuse any bundle but the one acc-export printed)\n",
                 program);
    return status;
}

bool is_help(const std::string& arg) { return arg == "-h" || arg == "--help"; }

double number(const char* flag, const char* text) {
    char* end = nullptr;
    const double value = std::strtod(text, &end);
    if (end == text || *end != '\0') throw acc::DataError(std::string(flag) + " needs a number, got '" + text + "'");
    return value;
}

// The library names a fix as the request keyword (best_effort=True, min_accuracy=0.9: the Python runtime's spelling,
// shared so both say the same); a user of this program fixes it with a flag, so the error line names the flag.
// Same rewrite as acc.runtime.hints.as_flags.
std::string with_flags(const std::string& message) {
    static const std::regex bare(R"(\b(lower|raise) (min_accuracy|latency_budget_ms)\b)");
    static const std::regex keyword(
        R"(\b(speedup|latency_budget_ms|min_accuracy|best_effort|device)=(True|[0-9.]*[0-9]|'[A-Za-z0-9_:]+')?)");
    const std::string text = std::regex_replace(message, bare, "$1 $2=");
    std::string out;
    auto last = text.cbegin();
    for (std::sregex_iterator it(text.cbegin(), text.cend(), keyword), end; it != end; ++it) {
        const std::smatch& match = *it;
        out.append(last, match[0].first);
        std::string flag = "--" + match[1].str();
        std::replace(flag.begin(), flag.end(), '_', '-');
        std::string value = match[2].matched ? match[2].str() : "";
        value.erase(std::remove(value.begin(), value.end(), '\''), value.end());
        out += (value.empty() || value == "True") ? flag : flag + " " + value;
        last = match[0].second;
    }
    out.append(last, text.cend());
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (is_help(argv[i])) return usage(argv[0], stdout, 0);
    }
    if (argc < 2) return usage(argv[0], stderr, 2);
    if (std::string(argv[1]).rfind("--", 0) == 0) {
        std::fprintf(stderr, "error: the bundle comes first, got option %s; run: %s BUNDLE [options] [SENTENCE ...]\n",
                     argv[1], argv[0]);
        return 2;
    }
    acc::Request request;
    acc::RuntimeOptions options;
    std::vector<std::string> sentences;
    try {
        for (int i = 2; i < argc; ++i) {
            const std::string arg = argv[i];
            const bool has_value = i + 1 < argc;
            if (arg == "--speedup" && has_value) {
                request.speedup = number("--speedup", argv[++i]);
            } else if (arg == "--latency-budget-ms" && has_value) {
                request.latency_budget_ms = number("--latency-budget-ms", argv[++i]);
            } else if (arg == "--min-accuracy" && has_value) {
                request.min_accuracy = number("--min-accuracy", argv[++i]);
            } else if (arg == "--threads" && has_value) {
                options.threads = static_cast<int>(number("--threads", argv[++i]));
            } else if (arg == "--digest" && has_value) {
                options.digest = argv[++i];
            } else if (arg == "--best-effort") {
                request.best_effort = true;
            } else if (arg.rfind("--", 0) == 0) {
                std::fprintf(stderr, "error: unknown option %s (or its value is missing); see %s --help\n", arg.c_str(),
                             argv[0]);
                return 2;
            } else {
                sentences.push_back(arg);
            }
        }
        if (sentences.empty()) {
            for (std::string line; std::getline(std::cin, line);) {
                if (!line.empty()) sentences.push_back(line);
            }
        }
        if (sentences.empty()) {
            std::fprintf(stderr, "error: no sentences; pass them as arguments or one per line on stdin\n");
            return 2;
        }

        acc::Runtime runtime(argv[1], options);  // verifies the sha256 of every bundle file
        const acc::Prediction prediction = runtime.predict(sentences, request);
        for (std::size_t row = 0; row < sentences.size(); ++row) {
            const int label = prediction.label_ids[row];
            std::printf("%s\t%.4f\tprofile=%s\tlatency=%.2fms\t%s\n", prediction.labels[row].c_str(),
                        prediction.probability(static_cast<std::int64_t>(row), label), prediction.profile.c_str(),
                        prediction.latency_ms, sentences[row].c_str());
        }
        std::fprintf(stderr, "profile %s: %s\n", prediction.profile.c_str(), prediction.reason.c_str());
        return 0;
    } catch (const acc::AccError& error) {
        std::fprintf(stderr, "error: %s\n", with_flags(error.what()).c_str());
        return 1;
    }
}
