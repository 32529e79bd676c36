# Third-party packages, all from Debian (scripts/setup.sh installs them).
find_package(Boost 1.74 REQUIRED COMPONENTS program_options filesystem)
find_package(tomlplusplus REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(GTest REQUIRED)
find_package(Threads REQUIRED)
set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
find_path(VPMOE_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas openblas-pthread REQUIRED)
# Tokenizer: ICU for Unicode general categories, OpenSSL's libcrypto for the asset sha256.
find_package(ICU REQUIRED COMPONENTS uc)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
# vpmoe-host plot writes its PNG with libpng.
find_package(PNG REQUIRED)
# TensorBoard event files ([log] tensorboard): Debian's protobuf. Optional, so a machine
# without it still builds; the key then says the build has none.
find_package(Protobuf)
set(VPMOE_HAS_PROTOBUF ${Protobuf_FOUND})
# Multi-process CPU runs (and their tests under mpirun): optional, so a GPU machine without
# MPI still builds; vpmoe::mpi_world_comm() then says the build has none.
find_package(MPI COMPONENTS CXX)
# NCCL for multi-GPU runs (CUDA builds only): in the CUDA toolkit or from Debian/NVIDIA's
# libnccl-dev. Optional: without it vpmoe::nccl_comm says the build has none.
set(VPMOE_HAS_NCCL OFF)
if(VPMOE_WITH_CUDA)
  find_path(VPMOE_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/include)
  find_library(VPMOE_NCCL_LIBRARY nccl
    HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64 /usr/lib/x86_64-linux-gnu)
  if(VPMOE_NCCL_INCLUDE_DIR AND VPMOE_NCCL_LIBRARY)
    set(VPMOE_HAS_NCCL ON)
  endif()
  message(STATUS "vpmoe: NCCL ${VPMOE_HAS_NCCL} (${VPMOE_NCCL_LIBRARY})")
endif()
