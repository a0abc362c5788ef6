# Records a fixture, not part of Hearth: writes testdata/lora/ggufpy-llama-f16.gguf with
# llama.cpp's own gguf-py the way convert_lora_to_gguf.py does (general.type adapter,
# adapter.type lora, adapter.lora.alpha, <base>.lora_a numpy (r, in) = ggml [in, r], .lora_b (out, r)).
# Usage: PYTHONPATH=llama.cpp/gguf-py python3 write_ggufpy_adapter.py OUT.gguf f16|f32
import sys
import numpy as np
import gguf

out, dtype = sys.argv[1], sys.argv[2]  # dtype: f16 or f32
dim, kv, ffn, blocks, rank, alpha = 128, 64, 384, 2, 2, 6.0
rng = np.random.default_rng(2026)
w = gguf.GGUFWriter(out, "llama")
w.add_type(gguf.GGUFType.ADAPTER)
w.add_string(gguf.Keys.Adapter.TYPE, "lora")
w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
w.add_name("gguf-py test adapter")
shapes = {"attn_q": (dim, dim), "attn_v": (dim, kv), "attn_output": (dim, dim), "ffn_down": (ffn, dim)}
for b in range(blocks):
    for n, (i, o) in shapes.items():
        a = rng.normal(0, 0.06, size=(rank, i)).astype(np.float16)
        bb = rng.normal(0, 0.06, size=(o, rank)).astype(np.float16)
        if dtype == "f32":
            a, bb = a.astype(np.float32), bb.astype(np.float32)
        w.add_tensor(f"blk.{b}.{n}.weight.lora_a", a)
        w.add_tensor(f"blk.{b}.{n}.weight.lora_b", bb)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
