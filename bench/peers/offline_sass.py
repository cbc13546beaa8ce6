#!/usr/bin/env python3
"""Registers and SASS of the CUDA kernels CubeCL generated, off the device.

A device command writes the generated sources with
`CUBECL_DEBUG_LOG=$OUT/cubecl.log ssm ...` (xz it to bring it back). This
script, on the machine that builds (no GPU), cuts each kernel's source out
of that log, compiles it with NVRTC as the vendored cubecl-cuda does
(`--gpu-architecture=sm_90a -lineinfo`, plus `--ftz=true` with --ftz),
runs `ptxas -v` and `cuobjdump -sass`, and prints each kernel's registers,
spills and SASS instruction count. The .cu, .ptx, .cubin and .sass files stay
in OUTDIR. The toolchain comes from pip wheels unpacked into TOOLS:

    pip download --no-deps -d /tmp/wheels nvidia-cuda-nvrtc nvidia-cuda-runtime \
        nvidia-cuda-nvcc nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm      # CUDA 13
    (or nvidia-cuda-nvrtc-cu12, nvidia-cuda-runtime-cu12, nvidia-cuda-nvcc-cu12 for 12.x)
    mkdir -p /tmp/cuda-tools && for w in /tmp/wheels/*.whl; do unzip -qo "$w" -d /tmp/cuda-tools; done
    python3 bench/peers/offline_sass.py LOG[.xz] OUTDIR [--match NAME] [--ftz] [--tools /tmp/cuda-tools]
"""
import argparse, ctypes, glob, lzma, os, re, subprocess, sys

ap = argparse.ArgumentParser()
ap.add_argument("log")
ap.add_argument("outdir")
ap.add_argument("--match", default="", help="only kernels whose Rust name contains this")
ap.add_argument("--ftz", action="store_true", help="compile with --ftz=true")
ap.add_argument("--tools", default="/tmp/cuda-tools")
args = ap.parse_args()

def tool(pattern):
    found = sorted(glob.glob(os.path.join(args.tools, "nvidia", "**", pattern), recursive=True))
    if not found:
        sys.exit(f"offline_sass: {pattern} not found under {args.tools} (see the docstring)")
    return found[0]

nvrtc = ctypes.CDLL(tool("libnvrtc.so.1[0-9]"))
ptxas, cuobjdump = tool("ptxas"), tool("cuobjdump")
env = dict(os.environ, PATH=os.path.dirname(tool("nvdisasm")) + ":" + os.environ["PATH"])
includes = [f"-I{d}".encode() for d in glob.glob(os.path.join(args.tools, "nvidia", "*", "include"))]
opts = [b"--gpu-architecture=compute_90a", b"-lineinfo", *includes] + ([b"--ftz=true"] if args.ftz else [])

text = (lzma.open if args.log.endswith(".xz") else open)(args.log, "rt").read()
os.makedirs(args.outdir, exist_ok=True)
for n, block in enumerate(text.split("[START_KERNEL_COMPILATION]")[1:]):
    name = re.search(r"name: (\S+)", block)
    start, end = block.find("#include"), block.find("[END_KERNEL_COMPILATION]")
    if not name or start < 0 or args.match not in name.group(1):
        continue
    source = block[start:end]
    source = source[: source.rfind("```")] if "```" in source else source
    entry = re.search(r"__global__ void (?:__launch_bounds__\([^)]*\))?\s*(\w+)", source)
    stem = os.path.join(args.outdir, f"k{n:02d}_{entry.group(1) if entry else 'kernel'}")
    open(stem + ".cu", "w").write(source)
    prog = ctypes.c_void_p()
    nvrtc.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b"k.cu", 0, None, None)
    arr = (ctypes.c_char_p * len(opts))(*opts)
    if nvrtc.nvrtcCompileProgram(prog, len(opts), arr) != 0:
        size = ctypes.c_size_t(); nvrtc.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value); nvrtc.nvrtcGetProgramLog(prog, log)
        print(f"{stem}: NVRTC failed\n{log.value.decode()[:2000]}"); continue
    size = ctypes.c_size_t(); nvrtc.nvrtcGetPTXSize(prog, ctypes.byref(size))
    ptx = ctypes.create_string_buffer(size.value); nvrtc.nvrtcGetPTX(prog, ptx)
    open(stem + ".ptx", "wb").write(ptx.value)
    info = subprocess.run([ptxas, "-v", "-arch=sm_90a", stem + ".ptx", "-o", stem + ".cubin"],
                          capture_output=True, text=True).stderr
    sass = subprocess.run([cuobjdump, "-sass", stem + ".cubin"], capture_output=True, text=True, env=env).stdout
    open(stem + ".sass", "w").write(sass)
    instructions = len(re.findall(r"/\*[0-9a-f]{4}\*/\s+[^;]*;", sass))
    regs = re.search(r"Used (\d+) registers", info)
    spills = re.search(r"(\d+) bytes spill stores", info)
    print(f"{os.path.basename(stem)}: {regs.group(1) if regs else '?'} registers, "
          f"{spills.group(1) if spills else '?'} bytes spilled, {instructions} SASS instructions"
          f"{' (--ftz=true)' if args.ftz else ''}")
