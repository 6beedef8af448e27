"""The C++ runtime (``cpp/``): configure, build and run its ctest suite against the Python runtime, as a user would.

One CMake build per session in ``build/cpp-tests`` (incremental when it exists), on the session's real exported
bundle (``tiny_export_bundle``). ctest's ``reference`` step writes what Python computes — HF tokenizer ids, Python
runtime predictions on SST-2 dev, policy choices, error messages — and each C++ case must match it; every ctest
case is one test here. No cmake or C++ compiler: skipped with the reason. Headers that cannot be fetched from
Debian (offline): the configure step fails, and so does this test, with CMake's message.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
from manifest_mutations import apply_case, rule_cases

from acc.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]
BUILD_DIR = REPO / "build" / "cpp-tests"
CTEST_CASES = ("reference", "sha256", "tokenizer", "policy", "profiles", "errors", "engines", "predict")


def _run(command: list[str], what: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, check=False, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        pytest.fail(f"{what} failed (exit {done.returncode}): {' '.join(command)}\n{output[-6000:]}", pytrace=False)
    return done


def _tools() -> tuple[str, list[str]]:
    cmake = shutil.which("cmake")
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if cmake is None or compiler is None:
        pytest.skip("the C++ runtime needs cmake and a C++20 compiler (apt-get install cmake g++ ninja-build)")
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    cache = BUILD_DIR / "CMakeCache.txt"
    wanted = "Ninja" if generator else "Unix Makefiles"
    if cache.is_file() and f"CMAKE_GENERATOR:INTERNAL={wanted}\n" not in cache.read_text():
        shutil.rmtree(BUILD_DIR)  # built with another generator; CMake refuses to switch in place
    return cmake, generator


@pytest.fixture(scope="module")
def cpp_build(tiny_export_bundle: Path, sst2_dir: Path) -> Iterator[Path]:
    """Configure and build cpp/ (library, example, tests); yields the build directory. Serialised by a lock file."""
    cmake, generator = _tools()
    BUILD_DIR.parent.mkdir(parents=True, exist_ok=True)
    with open(BUILD_DIR.parent / "cpp-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _run([cmake, "-S", str(REPO / "cpp"), "-B", str(BUILD_DIR), *generator, "-DCMAKE_BUILD_TYPE=Release",
              "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG", f"-DPython3_EXECUTABLE={sys.executable}",
              f"-DACC_TEST_BUNDLE={tiny_export_bundle}", f"-DACC_TEST_DATA_DIR={sst2_dir}"], "cmake configure")  # fmt: skip
        _run([cmake, "--build", str(BUILD_DIR), "--parallel", str(os.cpu_count() or 2)], "cmake build")
        yield BUILD_DIR


@pytest.fixture(scope="module")
def ctest_results(cpp_build: Path) -> dict[str, tuple[str, str]]:
    """``{case: (status, output)}`` from one ctest run (JUnit report)."""
    report = cpp_build / "ctest-junit.xml"
    report.unlink(missing_ok=True)
    ctest = shutil.which("ctest") or "ctest"
    done = subprocess.run([ctest, "--test-dir", str(cpp_build), "--output-on-failure", "--output-junit", str(report),
                           "--parallel", "2"], check=False, cwd=REPO, capture_output=True, text=True, timeout=900)  # fmt: skip
    if not report.is_file():
        pytest.fail(f"ctest wrote no report (exit {done.returncode}):\n{(done.stdout + done.stderr)[-6000:]}")
    results: dict[str, tuple[str, str]] = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        output = "".join(node.text or "" for node in case.iter() if node.tag in ("system-out", "failure"))
        results[case.get("name", "")] = (case.get("status", ""), output)
    return results


@pytest.mark.parametrize("case", CTEST_CASES)
def test_ctest_case_passes(ctest_results: dict[str, tuple[str, str]], case: str) -> None:
    assert case in ctest_results, f"ctest did not run {case!r} (ran {sorted(ctest_results)})"
    status, output = ctest_results[case]
    assert status == "run", f"ctest case {case} {status}:\n{output[-6000:]}"


def test_ctest_runs_exactly_the_known_cases(ctest_results: dict[str, tuple[str, str]]) -> None:
    """A case added to CMake but not here (or the reverse) would otherwise go unreported."""
    assert sorted(ctest_results) == sorted(CTEST_CASES)


def test_predict_case_compared_every_graph_on_all_of_sst2_dev(ctest_results: dict[str, tuple[str, str]]) -> None:
    output = ctest_results["predict"][1]
    assert output.count("872 texts, 872 labels equal") >= 3, output  # dense, s1.5 and the adjustable graph


def test_example_classifies_like_the_python_runtime(cpp_build: Path, tiny_export_bundle: Path) -> None:
    texts = ["a gorgeous, witty, seductive movie .", "flat and boring ."]
    done = _run([str(cpp_build / "examples" / "classify"), str(tiny_export_bundle), "--speedup", "1.5", *texts],
                "examples/cpp/classify")  # fmt: skip
    lines = done.stdout.strip().splitlines()
    expected = Runtime.load(tiny_export_bundle, device="cpu").predict(texts, speedup=1.5)
    assert [line.split("\t")[0] for line in lines] == expected.labels
    assert all("\tprofile=s1.5\t" in line and line.endswith(text) for line, text in zip(lines, texts))
    assert "profile s1.5: shipped profile with target speedup 1.5" in done.stderr


def test_example_spells_the_fix_as_its_own_flag(cpp_build: Path, tiny_export_bundle: Path) -> None:
    """The example's user passes --best-effort, not best_effort=True (issue #16, item 4)."""
    done = subprocess.run([str(cpp_build / "examples" / "classify"), str(tiny_export_bundle), "--min-accuracy",
                           "0.99999", "fine"], check=False, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "no profile reaches accuracy 0.99999" in done.stderr
    assert "lower --min-accuracy or pass --best-effort" in done.stderr and "=True" not in done.stderr


def test_example_reports_a_broken_bundle_in_one_line(cpp_build: Path, tmp_path: Path) -> None:
    done = subprocess.run([str(cpp_build / "examples" / "classify"), str(tmp_path / "nowhere"), "fine"],
                          check=False, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert (
        done.stderr
        == f"error: bundle {tmp_path / 'nowhere'} does not exist; pass the directory written by acc-export\n"
    )


def test_build_keeps_downloaded_headers_in_the_build_directory(cpp_build: Path) -> None:
    """#16 item 8: ``-B build/x`` owns every file the configure step writes (headers in ``build/x/_deps``)."""
    cache = (cpp_build / "CMakeCache.txt").read_text()
    if "ACC_DEPS_DIR:PATH=" in cache and os.environ.get("ACC_DEPS_DIR"):
        pytest.skip("ACC_DEPS_DIR is set in this shell: the build uses that cache instead")
    assert f"ACC_DEPS_DIR:PATH={cpp_build / '_deps'}\n" in cache
    assert (cpp_build / "_deps" / "onnxruntime" / "include" / "onnxruntime_cxx_api.h").is_file()


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_example_help_prints_usage_and_succeeds(cpp_build: Path, tmp_path: Path, flag: str) -> None:
    classify = str(cpp_build / "examples" / "classify")
    for argv in ([classify, flag], [classify, str(tmp_path), "--speedup", "3", flag]):
        done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"usage: {classify} BUNDLE [--speedup S"), done.stdout
        assert done.stderr == ""


def test_example_names_an_unknown_option(cpp_build: Path, tiny_export_bundle: Path) -> None:
    classify = str(cpp_build / "examples" / "classify")
    done = subprocess.run([classify, str(tiny_export_bundle), "--speed", "3", "fine"], check=False,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == f"error: unknown option --speed (or its value is missing); see {classify} --help\n"
    done = subprocess.run([classify, "--speedup", "3", str(tiny_export_bundle)], check=False, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: the bundle comes first, got option --speedup; run: ")


# ------------------------------------------------------------- one rule set with Python (issue #20 items 3, 11)


def _cpp_load(cpp_build: Path, bundle: Path, *digest: str) -> str:
    """``acc_cpp_tests load BUNDLE [DIGEST]``: "ok <digest>" or "error: <one line>"."""
    done = subprocess.run([str(cpp_build / "tests" / "acc_cpp_tests"), "load", str(bundle), *digest],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode in (0, 3), done.stdout + done.stderr
    return done.stdout.strip()


def _python_load(bundle: Path, digest: str | None = None) -> str:
    from acc.profiles import BundleError
    from acc.runtime.manifest import check_digest, read_manifest

    try:
        manifest = read_manifest(bundle)
        if digest is not None:
            check_digest(manifest, digest)
    except BundleError as exc:
        return f"error: {exc}"
    return f"ok {manifest.digest}"


@pytest.mark.parametrize("case", rule_cases(), ids=lambda case: case["name"])
def test_cpp_and_python_apply_the_same_manifest_rules(case: dict, cpp_build: Path, tiny_export_bundle: Path,
                                                      tmp_path: Path) -> None:  # fmt: skip
    bundle = Path(shutil.copytree(tiny_export_bundle, tmp_path / "bundle"))
    apply_case(bundle, case)
    cpp, python = _cpp_load(cpp_build, bundle), _python_load(bundle)
    assert cpp == python  # same verdict, same message, same digest
    if case["error"] is None:
        assert cpp.startswith("ok sha256:")
    else:
        assert case["error"] in cpp


def test_cpp_checks_the_digest_and_refuses_links_and_unlisted_tokenizers(cpp_build: Path, tiny_export_bundle: Path,
                                                                          tmp_path: Path) -> None:  # fmt: skip
    bundle = Path(shutil.copytree(tiny_export_bundle, tmp_path / "bundle"))
    digest = _python_load(bundle).removeprefix("ok ")
    assert _cpp_load(cpp_build, bundle, digest) == f"ok {digest}"
    wrong = "sha256:" + "0" * 64
    assert _cpp_load(cpp_build, bundle, wrong) == _python_load(bundle, wrong)
    assert "has digest" in _cpp_load(cpp_build, bundle, wrong)
    outside = Path(shutil.move(bundle / "graphs", tmp_path / "elsewhere"))
    (bundle / "graphs").symlink_to(outside)
    assert "graphs in bundle" in _cpp_load(cpp_build, bundle) and "is a symbolic link" in _cpp_load(cpp_build, bundle)
    (bundle / "graphs").unlink()
    shutil.move(outside, bundle / "graphs")
    data = json.loads((bundle / "manifest.json").read_text())
    del data["files"]["tokenizer/tokenizer.json"]
    (bundle / "manifest.json").write_text(json.dumps(data))
    assert _cpp_load(cpp_build, bundle) == _python_load(bundle)
    assert "tokenizer/tokenizer.json is not listed" in _cpp_load(cpp_build, bundle)


# ------------------------------------- what was checked is what runs (issue #20: no check-then-open-by-path gap)


def _serve(cpp_build: Path, bundle: Path, *swap: str | Path, strace_log: Path | None = None) -> tuple[int, str]:
    """``acc_cpp_tests serve BUNDLE [RELATIVE REPLACEMENT]`` (optionally under strace): its exit code and stdout."""
    command = [str(cpp_build / "tests" / "acc_cpp_tests"), "serve", str(bundle), *map(str, swap)]
    if strace_log is not None:
        command = ["strace", "-f", "-qq", "-e", "trace=open,openat,openat2", "-o", str(strace_log), *command]
    done = subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=300, check=False)
    assert done.returncode in (0, 3), done.stdout + done.stderr
    return done.returncode, done.stdout.strip()


@pytest.mark.parametrize("relative", ["graphs/s1.5.onnx", "graphs/weights.bin", "graphs/adjustable.onnx"])
def test_a_file_swapped_after_the_load_check_is_refused_not_run(cpp_build: Path, tiny_export_bundle: Path,
                                                                tmp_path: Path, relative: str) -> None:  # fmt: skip
    """Sessions are made on first use, after the load-time check: a graph or weights file renamed over the checked
    one in between (same size, one byte changed) must be refused then, not run as before the fix."""
    bundle = Path(shutil.copytree(tiny_export_bundle, tmp_path / "bundle"))
    assert relative in json.loads((bundle / "manifest.json").read_text())["files"]
    assert _serve(cpp_build, bundle)[0] == 0  # the untouched bundle serves every graph
    data = bytearray((bundle / relative).read_bytes())
    data[len(data) // 2] ^= 0xFF
    replacement = tmp_path / "tampered"
    replacement.write_bytes(bytes(data))
    code, out = _serve(cpp_build, bundle, relative, replacement)
    error = out.splitlines()[-1]  # graphs served before the swapped one's turn print their labels first
    assert code == 3, out
    assert error.startswith(f"error: {relative} in bundle {bundle} has sha256 ") and "(modified after export)" in error


def test_bundle_files_are_opened_only_by_the_checked_reader(cpp_build: Path, tiny_export_bundle: Path,
                                                            tmp_path: Path) -> None:  # fmt: skip
    """Under strace, serving every graph: no bundle file is opened by its path (as ONNX Runtime and the tokenizer
    did, after the hash check, before the fix); each open is the checked reader's (relative to its folder, no
    links followed), whose bytes are the ones hashed and then used."""
    if shutil.which("strace") is None:
        pytest.skip("needs strace (apt-get install strace)")
    if subprocess.run(["strace", "-qq", "-o", os.devnull, "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("strace cannot trace here (ptrace not permitted)")
    bundle = Path(shutil.copytree(tiny_export_bundle, tmp_path / "bundle"))
    log = tmp_path / "opens.log"
    assert _serve(cpp_build, bundle, strace_log=log)[0] == 0
    opens = log.read_text().splitlines()
    listed = ["manifest.json", *sorted(json.loads((bundle / "manifest.json").read_text())["files"])]
    by_path = [line for line in opens if any(f'"{bundle}/{relative}"' in line for relative in listed)]
    assert by_path == []
    for relative in listed:
        name = relative.rsplit("/", 1)[-1]
        reads = [line for line in opens if f', "{name}", ' in line]
        assert reads and all("O_NOFOLLOW" in line for line in reads), (relative, reads)


def test_example_checks_the_digest_it_is_given(cpp_build: Path, tiny_export_bundle: Path) -> None:
    """``classify --digest`` pins the bundle (the C++ runtime checks the digest; signatures are Python's to check)."""
    classify = str(cpp_build / "examples" / "classify")
    digest = _python_load(tiny_export_bundle).removeprefix("ok ")
    done = _run([classify, str(tiny_export_bundle), "--digest", digest, "fine"], "classify --digest")
    assert done.stdout.count("\n") == 1
    wrong = "sha256:" + "0" * 64
    done = subprocess.run([classify, str(tiny_export_bundle), "--digest", wrong, "fine"], check=False,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == _python_load(tiny_export_bundle, wrong) + "\n"


@pytest.mark.parametrize("location", ["../../outside.bin", "unlisted.bin"])
def test_external_data_must_be_a_listed_file_inside_the_bundle(cpp_build: Path, tiny_export_bundle: Path,
                                                               tmp_path: Path, location: str) -> None:  # fmt: skip
    """A graph whose first weight names another external file: outside the bundle, or not listed (so it could not
    be verified). C++ finds the location in the graph's protobuf and refuses it with the Python runtime's message."""
    import hashlib

    import onnx
    from onnx.external_data_helper import uses_external_data

    from acc.profiles import BundleError

    bundle = Path(shutil.copytree(tiny_export_bundle, tmp_path / "bundle"))
    relative = "graphs/dense.onnx"
    model = onnx.load(bundle / relative, load_external_data=False)
    tensor = next(tensor for tensor in model.graph.initializer if uses_external_data(tensor))
    next(entry for entry in tensor.external_data if entry.key == "location").value = location
    data = model.SerializeToString()
    (bundle / relative).write_bytes(data)
    (bundle / "graphs" / "unlisted.bin").write_bytes((bundle / "graphs" / "weights.bin").read_bytes())  # exists
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][relative] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError) as python:
        Runtime.load(bundle, device="cpu")
    code, out = _serve(cpp_build, bundle)
    assert code == 3 and out == f"error: {python.value}", out
    assert (f"keeps tensor {tensor.name!r} in {location!r}, outside the bundle" in out if location.startswith("..")
            else f"needs graphs/{location}, which manifest.json does not list" in out)  # fmt: skip
