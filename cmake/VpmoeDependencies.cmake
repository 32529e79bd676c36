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
# Multi-process CPU runs (and their tests under mpirun): optional, so a GPU machine without
# MPI still builds; vpmoe::mpi_world_comm() then says the build has none.
find_package(MPI COMPONENTS CXX)
