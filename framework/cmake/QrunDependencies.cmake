# Third-party dependencies, all from Debian 12 packages (or, on the GPU machine, .debs unpacked
# into a prefix plus PyTorch's own libtorch; see scripts/gpu-build.sh).
find_package(Torch REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS program_options filesystem)
find_package(spdlog REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
# Unicode normal forms (NFC, ...) for the tokenizer's normalizers: Debian libicu-dev.
pkg_check_modules(ICU REQUIRED IMPORTED_TARGET icu-uc)
find_package(CURL)  # optional: downloads from the Hugging Face hub

# One interface target for torch so that every consumer gets the same flags. spdlog (and with it
# fmt 9's include folder) must come before torch's include folders: the PyTorch wheel ships fmt 12
# headers that break Debian's spdlog when they come first.
add_library(qrun_torch INTERFACE)
target_link_libraries(qrun_torch INTERFACE spdlog::spdlog ${TORCH_LIBRARIES})
separate_arguments(_qrun_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(qrun_torch INTERFACE ${_qrun_torch_flags})
if(TARGET torch_cuda OR TARGET c10_cuda)
  set(QRUN_WITH_CUDA ON)
  target_compile_definitions(qrun_torch INTERFACE QRUN_WITH_CUDA=1)
else()
  set(QRUN_WITH_CUDA OFF)
endif()
# CUDA kernels of qrun (int8 quantization, the hf backend's decode step) are compiled for these
# architectures: A100 (80) and H100 (90) unless the configuration names its own.
set(QRUN_CUDA_ARCHITECTURES "80;90" CACHE STRING "CUDA architectures of qrun's own kernels")
message(STATUS "qrun: torch ${Torch_VERSION}, CUDA ${QRUN_WITH_CUDA}")
