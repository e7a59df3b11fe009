// nf4: bitsandbytes' blockwise NormalFloat4 quantization (Linear4bit) on the selected linear
// layers, and the "nf4" linear kind that rebuilds stored layers. Numerics: qrun/quant/blockwise4.hpp
// and double_quant.hpp (libqrun_numerics); the method: plugins/quantizers/README.md.
#include <qrun/plugin.hpp>
#include <qrun/quant/bnb4_plugin.hpp>

QRUN_PLUGIN("nf4", "0.2.0",
            qrun::quant::four_bit_transform(qrun::quant::FourBit::nf4,
                                            "bitsandbytes NF4: blockwise absmax, NormalFloat4 codes packed two per byte"),
            qrun::quant::four_bit_linear_kind(qrun::quant::FourBit::nf4));
