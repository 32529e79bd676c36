#!/usr/bin/env python3
"""Counts the findings in a compute-sanitizer log, leaving out what is by design:
  - device or pinned memory held for the process's life and never freed: the pinned staging
    ring (cuda_impl::staged_upload), the cuBLASLt workspace (cuda_impl::workspace) and the
    cuBLAS/cuBLASLt handles (cublasCreate, cublasLtCreate);
  - cudaErrorNoKernelImageForDevice returned inside libnccl.so: NCCL asks for the attributes of
    kernels built for other architectures and handles the error itself.
racecheck hazards inside cuBLASLt's own kernels (nvjet_*, cutlass_*: closed source, TMA and
mbarrier pipelines) are counted apart and printed, but are not ours to fix.
Prints one line per kept finding (its first line and the first vpmoe frame) and, last, the
count and whether the tests passed. Exit 0 only when nothing is kept and the tests passed.
  scripts/sanitizer-findings.py LOG
"""
import re
import sys

KEPT_FOR_LIFE = ("cuda_impl::staged_upload", "cuda_impl::workspace", "cublasCreate",
                 "cublasLtCreate")


def blocks(lines):
    block = []
    for line in lines:
        if not line.startswith("========="):
            continue
        body = line[len("========="):]
        if body.strip() == "":
            if block:
                yield block
            block = []
        elif body.startswith(" ") and not body.startswith("  "):
            if block:
                yield block
            block = [body.strip()]
        elif block:
            block.append(body.strip())
    if block:
        yield block


def by_design(block):
    head = block[0]
    if head.startswith("Leaked"):
        return any(k in f for f in block for k in KEPT_FOR_LIFE)
    if "cudaErrorNoKernelImageForDevice" in head:
        return any("libnccl.so" in f for f in block[1:4])
    return False


def in_library_kernel(block):
    lib = r" at (nvjet_|cutlass|sm\d\d_xmma)"
    if block[0].startswith("Error: Race reported between"):  # the racecheck-report summary
        return re.search(lib, block[0]) is not None
    return "hazard" in block[0] and all(re.search(lib, f) for f in block[1:3])


def main():
    lines = open(sys.argv[1], errors="replace").read().splitlines()
    kept, library = [], 0
    for b in blocks(lines):
        head = b[0]
        if head.startswith(("ERROR SUMMARY", "LEAK SUMMARY", "RACECHECK SUMMARY",
                            "COMPUTE-SANITIZER", "Saved host backtrace")):
            continue
        if by_design(b):
            continue
        if in_library_kernel(b):
            library += not b[0].startswith("Error: Race reported")  # a summary of the others
            continue
        frame = next((f for f in b if "vpmoe::" in f), "")
        kept.append(head + (" | " + re.sub(r"\[0x[0-9a-f]+\]", "", frame) if frame else ""))
    for line in lines:  # beyond --print-limit: unseen, so kept
        m = re.search(r"ERROR SUMMARY: (\d+) errors were not printed", line)
        if m:
            kept += ["(not printed)"] * int(m.group(1))
    passed = any(re.match(r"\[  PASSED  \] \d+ test", line) for line in lines) and not any(
        line.startswith("[  FAILED  ]") for line in lines)
    for k in kept[:20]:
        print("  " + k)
    if library:
        print(f"  {library} racecheck hazards inside cuBLASLt kernels (not ours)")
    print(f"{len(kept)} findings, tests {'passed' if passed else 'FAILED or did not finish'}")
    return 0 if not kept and passed else 1


if __name__ == "__main__":
    sys.exit(main())
