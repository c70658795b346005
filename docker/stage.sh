#!/usr/bin/env bash
# Stages the files of one container image under OUT, laid out as they land in the image (the
# runtime stage of each Dockerfile copies OUT/opt and OUT/usr/local/bin). Used by both builders:
# the Dockerfiles' `builder` stage and scripts/images.sh, so both produce the same image.
#
#   docker/stage.sh libs FLAVOUR TORCH_DIR OUT     libtorch (+ CUDA libraries) into OUT/opt
#   docker/stage.sh bin  FLAVOUR BINARY OUT        the service binary into OUT/usr/local/bin
#
# FLAVOUR is `cpu` or `cuda`; TORCH_DIR is the `torch` package directory of the torch==2.11.0
# wheel (the repo's .libtorch link); BINARY is trainer-svc or predictor-svc as cargo built it.
#
# cpu:  The PyPI wheel is the CUDA build. Its libtorch.so is a shim that NEEDs libtorch_cuda.so,
#       which NEEDs ~2.7 GB of CUDA libraries. The staged binary drops the NEEDED entries of the
#       CUDA-only libraries (patchelf), so it loads libtorch_cpu.so alone and CUDA is simply
#       unavailable. Only the transitive NEEDED closure of the binary inside the wheel is copied
#       (libtorch_cpu, libc10, libgomp and libtorch_cpu's own CUDA runtime dependencies
#       libcudart + libcupti, ~5 MB), flat in /opt/libtorch/lib.
# cuda: The wheel's layout is kept (/opt/torch/site-packages/{torch/lib,nvidia/*/lib}), because
#       libtorch_cuda.so finds the CUDA libraries through its RPATH $ORIGIN/../../nvidia/<pkg>/lib
#       and dlopens several of them (cuDNN engines, nvrtc, cuSOLVER), so a NEEDED closure is not
#       enough; every shared library of the nvidia-* wheels is copied, headers and static
#       libraries are not.
# Both: PyTorch's own libraries ship with full symbol tables; they are stripped to their dynamic
# symbols (strip --strip-unneeded: ~90 MB less for libtorch_cpu.so). The binary gets a RUNPATH
# to the image's libtorch directory instead of the build machine's path, so no LD_LIBRARY_PATH
# is needed. All staged files get one fixed mtime, so unchanged files give identical image
# layers (and layer-cache hits) on every build.
set -euo pipefail

die() { printf '[stage] ERROR: %s\n' "$*" >&2; exit 1; }
[ "$#" -eq 4 ] || die "usage: $0 libs|bin cpu|cuda TORCH_DIR|BINARY OUT"
what=$1 flavour=$2 src=$3 out=$4
for tool in patchelf strip readelf; do
  command -v "$tool" >/dev/null || die "$tool is needed (apt-get install patchelf binutils)"
done
case $flavour in
  cpu) libdir=/opt/libtorch/lib ;;
  cuda) libdir=/opt/torch/site-packages/torch/lib ;;
  *) die "flavour must be cpu or cuda, got '$flavour'" ;;
esac
# Libraries that exist only for CUDA: a CPU image must not load them.
cuda_only='^(libtorch\.so|libtorch_cuda.*\.so|libc10_cuda\.so|libtorch_nvshmem\.so|libcaffe2_nvrtc\.so)$'
epoch=@0

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

stage_libs() {
  local torch lib site name queue file
  torch=$(readlink -f "$src")
  lib=$torch/lib
  site=$(dirname "$torch")
  [ -f "$lib/libtorch_cpu.so" ] || die "$lib/libtorch_cpu.so not found (is $src the torch package of the wheel?)"
  rm -rf "$out/opt"
  if [ "$flavour" = cpu ]; then
    mkdir -p "$out$libdir"
    # Closure of NEEDED entries found in the wheel (system libraries come from the base image).
    declare -A seen=()
    queue=(libtorch_cpu.so libc10.so)
    while [ "${#queue[@]}" -gt 0 ]; do
      name=${queue[0]}
      queue=("${queue[@]:1}")
      [ -z "${seen[$name]:-}" ] || continue
      seen[$name]=1
      [[ $name =~ $cuda_only ]] && die "$name is CUDA-only but needed by the CPU closure"
      file=$(find "$lib" "$site"/nvidia/*/lib -maxdepth 1 -name "$name" -print -quit 2>/dev/null || true)
      [ -n "$file" ] || continue
      cp -L "$file" "$out$libdir/$name"
      while read -r dep; do queue+=("$dep"); done < <(needed "$file")
    done
  else
    mkdir -p "$out$libdir"
    find "$lib" -maxdepth 1 -type f -name '*.so*' ! -name 'libtorch_python.so' ! -name 'libshm*' \
      -exec cp -L {} "$out$libdir/" \;
    local pkg dest
    for pkg in "$site"/nvidia/*/; do
      [ -d "$pkg/lib" ] || continue
      dest=$out/opt/torch/site-packages/nvidia/$(basename "$pkg")/lib
      mkdir -p "$dest"
      find "$pkg/lib" -maxdepth 1 -name '*.so*' \( -type f -o -type l \) -exec cp -a {} "$dest/" \;
    done
  fi
  # PyTorch's own libraries (not NVIDIA's, which ship stripped) lose their static symbol tables.
  for file in "$out$libdir"/lib{torch,c10}*.so; do
    [ -f "$file" ] && strip --strip-unneeded "$file"
  done
  find "$out/opt" -exec touch -h -d "$epoch" {} +
}

stage_bin() {
  local name dest entry
  [ -x "$src" ] || die "binary $src not found; build it first"
  name=$(basename "$src")
  dest=$out/usr/local/bin/$name
  mkdir -p "$(dirname "$dest")"
  rm -f "$dest"
  cp -L "$src" "$dest"
  chmod 0755 "$dest"
  if [ "$flavour" = cpu ]; then
    while read -r entry; do
      if [[ $entry =~ $cuda_only ]]; then patchelf --remove-needed "$entry" "$dest"; fi
    done < <(needed "$dest")
  fi
  patchelf --set-rpath "$libdir" "$dest"
  touch -h -d "$epoch" "$dest"
}

case $what in
  libs) stage_libs ;;
  bin) stage_bin ;;
  *) die "first argument must be libs or bin, got '$what'" ;;
esac
