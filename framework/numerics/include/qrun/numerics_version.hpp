// libqrun_numerics: the numerical building blocks qrun's own plugins use (bitsandbytes' quantizers
// and their layer kinds, quantization boxes, the dequantization detector, evaluation windows,
// WikiText-2 preparation, statistics, weight noise). Not part of the plugin contract
// (framework/include/qrun/): a separately named, separately versioned library that a plugin may
// link (`qrun::numerics`) and whose API may change between its versions.
#pragma once

#define QRUN_NUMERICS_VERSION_MAJOR 1
#define QRUN_NUMERICS_VERSION_MINOR 0
#define QRUN_NUMERICS_VERSION "1.0"
