#!/usr/bin/env python3
"""Makes the seed corpora for the libFuzzer targets in tests/fuzz/ (stdlib only).

A micro Gemma 4 checkpoint (2 layers: one sliding, one global; per-layer embeddings;
a 300-token byte-fallback vocabulary) is written as an HF directory in two config
flavours (the released Gemma4Config with text_config and global_head_dim, and
save_pretrained's Gemma4TextConfig with per_layer_config), converted with `g4 convert`
to GGUF, and the pieces become seeds:
  seeds/fuzz_gguf/         whole micro GGUFs (q4_0, f16) and a header-only prefix
  seeds/fuzz_safetensors/  the micro model.safetensors and a few damaged headers
  seeds/fuzz_config/       both config flavours and the four tiny fixtures' configs
Run from the repository root after `make`:  python3 tests/fuzz/make_seeds.py
"""
import json, os, random, struct, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEEDS = os.path.join(ROOT, "tests", "fuzz", "seeds")
rng = random.Random(1234)

H, V, L, P, NQ, NKV, DS, DG, FF = 32, 300, 2, 8, 2, 1, 16, 32, 64

def tensors():
    t = {}
    def mat(name, rows, cols, scale=None):
        s = scale if scale is not None else cols ** -0.5
        t[name] = ([rows, cols], [rng.gauss(0, s) for _ in range(rows * cols)])
    def vec(name, n, base=1.0):
        t[name] = ([n], [base + 0.2 * rng.gauss(0, 1) for _ in range(n)])
    p = "model.language_model."
    mat(p + "embed_tokens.weight", V, H, 1.0)
    mat(p + "embed_tokens_per_layer.weight", V, L * P, 1.0)
    mat(p + "per_layer_model_projection.weight", L * P, H)
    vec(p + "per_layer_projection_norm.weight", P)
    vec(p + "norm.weight", H)
    for l in range(L):
        d = DS if l == 0 else DG
        q = f"{p}layers.{l}."
        vec(q + "input_layernorm.weight", H)
        mat(q + "self_attn.q_proj.weight", NQ * d, H)
        mat(q + "self_attn.k_proj.weight", NKV * d, H)
        mat(q + "self_attn.v_proj.weight", NKV * d, H)
        mat(q + "self_attn.o_proj.weight", H, NQ * d)
        vec(q + "self_attn.q_norm.weight", d)
        vec(q + "self_attn.k_norm.weight", d)
        vec(q + "post_attention_layernorm.weight", H)
        vec(q + "pre_feedforward_layernorm.weight", H)
        mat(q + "mlp.gate_proj.weight", FF, H)
        mat(q + "mlp.up_proj.weight", FF, H)
        mat(q + "mlp.down_proj.weight", H, FF)
        vec(q + "post_feedforward_layernorm.weight", H)
        t[q + "layer_scalar"] = ([1], [0.8])
        mat(q + "per_layer_input_gate.weight", P, H)
        mat(q + "per_layer_projection.weight", H, P)
        vec(q + "post_per_layer_input_norm.weight", H)
    return t

def write_safetensors(path, t):
    header, blobs, off = {}, [], 0
    for name, (shape, vals) in t.items():
        b = struct.pack(f"<{len(vals)}f", *vals)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

def text_config(flavour):
    c = {"model_type": "gemma4_text", "vocab_size": V, "hidden_size": H, "num_hidden_layers": L,
         "num_attention_heads": NQ, "num_key_value_heads": NKV, "head_dim": DS, "intermediate_size": FF,
         "hidden_size_per_layer_input": P, "vocab_size_per_layer_input": V, "sliding_window": 4,
         "layer_types": ["sliding_attention", "full_attention"], "final_logit_softcapping": 30.0,
         "rms_norm_eps": 1e-6, "max_position_embeddings": 4096, "tie_word_embeddings": True,
         "num_kv_shared_layers": 0, "attention_k_eq_v": False, "enable_moe_block": False,
         "rope_parameters": {"full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1e6},
                             "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}}
    if flavour == "released":
        c["global_head_dim"] = DG
        return {"model_type": "gemma4", "architectures": ["Gemma4ForConditionalGeneration"], "text_config": c}
    c["per_layer_config"] = {"1": {"head_dim": DG}}
    return c

def tokenizer():
    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = 4 + b
    pieces = ["▁", "e", "t", "a", "o", "n", "i", "s", "r", "h", "▁t", "he", "▁the", "▁a", "in", "er", "an", "on",
              "re", "▁s", "at", "en", "nd", "▁o", "es", "or", "ti", "te", "is", "▁w", "ed", "ar", "▁i", "it", "al",
              "▁b", "▁c", "ng", "ou", "le"]
    merges = [["▁", "t"], ["h", "e"], ["▁t", "he"], ["▁", "a"], ["i", "n"], ["e", "r"], ["a", "n"], ["o", "n"]]
    for p in pieces:
        vocab.setdefault(p, len(vocab))
    assert len(vocab) == V, len(vocab)
    added = [{"id": i, "content": s, "special": True} for i, s in enumerate(["<pad>", "<eos>", "<bos>", "<unk>"])]
    return {"version": "1.0", "added_tokens": added,
            "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
            "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
                      "vocab": vocab, "merges": merges}}

def main():
    g4 = os.path.join(ROOT, "g4")
    if not os.path.exists(g4):
        sys.exit("build g4 first (make)")
    for d in ("fuzz_gguf", "fuzz_safetensors", "fuzz_config"):
        os.makedirs(os.path.join(SEEDS, d), exist_ok=True)
    t = tensors()
    with tempfile.TemporaryDirectory() as tmp:
        for flavour in ("released", "saved"):
            d = os.path.join(tmp, flavour)
            os.makedirs(d)
            write_safetensors(os.path.join(d, "model.safetensors"), t)
            json.dump(text_config(flavour), open(os.path.join(d, "config.json"), "w"), indent=1)
            json.dump(tokenizer(), open(os.path.join(d, "tokenizer.json"), "w"))
            cfg = open(os.path.join(d, "config.json"), "rb").read()
            open(os.path.join(SEEDS, "fuzz_config", f"micro-{flavour}.json"), "wb").write(cfg)
        src = os.path.join(tmp, "released")
        st = open(os.path.join(src, "model.safetensors"), "rb").read()
        open(os.path.join(SEEDS, "fuzz_safetensors", "micro.safetensors"), "wb").write(st)
        (hlen,) = struct.unpack("<Q", st[:8])
        open(os.path.join(SEEDS, "fuzz_safetensors", "header-only.safetensors"), "wb").write(st[:8 + hlen])
        bad = st[:8] + st[8:8 + hlen].replace(b'"F32"', b'"I64"', 1) + st[8 + hlen:]
        open(os.path.join(SEEDS, "fuzz_safetensors", "wrong-dtype.safetensors"), "wb").write(bad)
        for typ in ("q4_0", "f16"):
            out = os.path.join(SEEDS, "fuzz_gguf", f"micro-{typ}.gguf")
            subprocess.run([g4, "convert", src, out, "--type", typ], check=True, stderr=subprocess.DEVNULL)
        g = open(os.path.join(SEEDS, "fuzz_gguf", "micro-f16.gguf"), "rb").read()
        open(os.path.join(SEEDS, "fuzz_gguf", "micro-truncated.gguf"), "wb").write(g[:len(g) // 3])
        # the micro checkpoint itself, for the bad-input tests
        mdir = os.path.join(ROOT, "tests", "data", "micro")
        os.makedirs(mdir, exist_ok=True)
        for f in ("model.safetensors", "config.json", "tokenizer.json"):
            open(os.path.join(mdir, f), "wb").write(open(os.path.join(src, f), "rb").read())
    for name in ("tiny-e2b", "tiny-e4b", "tiny-26b-a4b", "tiny-31b"):
        cfg = open(os.path.join(ROOT, "tests", "data", name, "config.json"), "rb").read()
        open(os.path.join(SEEDS, "fuzz_config", f"{name}.json"), "wb").write(cfg)
    print("seeds written to", SEEDS)

if __name__ == "__main__":
    main()
