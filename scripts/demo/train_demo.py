#!/usr/bin/env python3
"""Train g4's bundled demo model (models/demo.gguf): a tiny Gemma 4 text model.

What: a BPE tokenizer with byte fallback (4096 pieces: <pad> <eos> <bos> <unk>, the 256
<0xHH> byte pieces, Gemma 4's chat control tokens by their exact names, then merges
learned on the corpus), and a Gemma4ForCausalLM with the structure of the small released
variants -- sliding and global layers (own head dims, proportional partial RoPE on the
global ones), per-layer embeddings, KV sharing, tied embeddings, final logit softcapping
-- about 9.3 M parameters, trained from scratch on the public-domain text that
scripts/demo/fetch_corpus.sh prepares (Moby-Dick, State of the Union addresses, the King
James Bible), with ~25% of the sequences chat-formatted exactly as the Gemma 4 chat
template renders them (user: "Continue: ..." / "Tell me about the X." ->
model: a few sentences of the corpus, ending with <turn|>), so that `g4 run` gets English
back and a stop. It is a demo: it writes English-like text and knows nothing.

Writes into --out:
  demo/        the checkpoint as save_pretrained writes it (float16 weights), tokenizer.json,
               tokenizer_config.json (with the official Gemma 4 chat template),
               generation_config.json
  fixture/     tests/data/demo/: ref.json (prompts, token ids, greedy continuations,
               tokenizer references, held-out perplexities, training facts) and
               ref_logits_<name>.f32 (float32 logits at every prompt position, row-major
               [n_tokens, vocab]) of the checkpoint as saved: the weights are rounded to
               float16 first, so g4 on the F16 GGUF computes the same function;
               heldout_excerpt.txt (a piece of the held-out text) with its perplexity
  train.log    everything printed
and, with --bundle DIR, one tar of the above cut into <= 15 MiB parts (for the device
tool, which returns files of at most 16 MiB).

How (the project ran it on the lent H100 with PyTorch 2.11, transformers 5.17,
tokenizers 0.23; training took 73 s, the whole script 109 s):
    scripts/demo/fetch_corpus.sh
    python3 scripts/demo/train_demo.py --corpus .cache/demo-corpus --out /tmp/demo-out
    ./g4 convert /tmp/demo-out/demo models/demo.gguf --type f16
    cp /tmp/demo-out/fixture/* tests/data/demo/; cp /tmp/demo-out/train.log tests/data/demo/
The defaults are the committed model's: batch 128 x 512 tokens (96 text windows, 32 chat
samples), AdamW (lr 2e-3, betas 0.9/0.95, weight decay 0.1 on matrices), 100 warm-up steps,
cosine to 10%, bf16 autocast, 7 epochs of the 3.8 M training tokens (539 steps). A first
run scheduled for 21 epochs overfitted after about 6.5 (validation loss lowest at 6.5 epochs,
then rising while the training loss kept falling), hence 7. The checkpoint with the lowest
validation loss is kept (with 7 epochs: the last). Results differ slightly between runs
(GPU nondeterminism); the fixture always belongs to the checkpoint it was made with.
Held-out perplexity is computed exactly as `g4 perplexity FILE` computes it (windows of
512 tokens, each starting with <bos>, stride 256), on the float16-rounded weights in
float32.
"""

import argparse
import io
import json
import math
import os
import random
import re
import sys
import tarfile
import time

import torch
import torch.nn.functional as F

T0 = time.time()
LOG = []


def log(*a):
    s = " ".join(str(x) for x in a)
    LOG.append(s)
    print("[%6.1fs] %s" % (time.time() - T0, s), flush=True)


SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>"]
# Gemma 4's control tokens (../shared/design/gemma4.md 5.3; src/tokenizer/vocab_load.c)
CONTROLS = ["<mask>", "<|turn>", "<turn|>", "<|channel>", "<channel|>", "<|think|>", "<|tool>", "<tool|>",
            "<|tool_call>", "<tool_call|>", "<|tool_response>", "<tool_response|>", '<|"|>',
            "<|image>", "<image|>", "<|image|>", "<|audio>", "<audio|>", "<|audio|>", "<|video|>"]
S, G = "sliding_attention", "full_attention"

MODEL = dict(
    hidden_size=256,
    num_hidden_layers=10,
    layer_types=[S, S, S, S, G] * 2,
    num_attention_heads=4,
    num_key_value_heads=1,
    num_global_key_value_heads=None,
    head_dim=64,
    global_head_dim=128,
    # 640 (896 until 2026-11-26): keeps the F16 GGUF under 20 MB, the size the repository's
    # checks allow a committed file (11.3 M parameters, 22.7 MB, before)
    intermediate_size=640,
    sliding_window=128,
    hidden_size_per_layer_input=32,
    # layers 5-9 reuse the KV of layer 3 (sliding) / 4 (global): llama.cpp takes the donors
    # to be the last two KV-owning layers, global last, as in E2B/E4B
    num_kv_shared_layers=5,
    use_double_wide_mlp=False,
    attention_k_eq_v=False,
    final_logit_softcapping=30.0,
    rope_parameters={
        G: {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1_000_000.0},
        S: {"rope_type": "default", "rope_theta": 10_000.0},
    },
    rms_norm_eps=1e-6,
    hidden_activation="gelu_pytorch_tanh",
    max_position_embeddings=2048,
    tie_word_embeddings=True,
    use_bidirectional_attention=None,
)

STOP = set("""a an the this that these those there their them they then than thus which while what when where
who whom whose with without within from into onto upon over under about above after again against also
among because been before being below between both but could does doing down during each every few
further have having here hers herself himself itself more most much must myself nor not only other ought
ours ourselves same shall should some such very were will would your yours yourself yourselves unto
thee thou thy thine hath doth shalt said saith first last great whole many""".split())


# ---------------------------------------------------------------------------
# corpus
# ---------------------------------------------------------------------------

def read_docs(path):
    text = open(path, encoding="utf-8").read()
    return [d.strip("\n") for d in text.split("\n\f\n") if d.strip()]


# ---------------------------------------------------------------------------
# tokenizer
# ---------------------------------------------------------------------------

def build_tokenizer(docs, vocab_size):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    fixed = SPECIALS + ["<0x%02X>" % i for i in range(256)] + CONTROLS
    # Train merges on words (a '▁' starts a word, newline runs stand alone: no merge crosses
    # either, as in Gemma's own vocabulary), then ship the model without a pre-tokenizer.
    t = Tokenizer(models.BPE())
    t.normalizer = normalizers.Replace(" ", "\u2581")
    t.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex("\n+"), behavior="isolated"),
        pre_tokenizers.Split("\u2581", behavior="merged_with_next")])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(fixed), min_frequency=2, show_progress=False,
                                  special_tokens=[], initial_alphabet=["\u2581", "\n"], limit_alphabet=150)
    t.train_from_iterator(docs, trainer=trainer)
    tv = t.get_vocab()
    raw = json.loads(t.to_str())["model"]["merges"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in raw]
    vocab = {}
    for s in fixed:
        vocab[s] = len(vocab)
    for tok, _ in sorted(tv.items(), key=lambda kv: kv[1]):
        if tok not in vocab and len(vocab) < vocab_size:
            vocab[tok] = len(vocab)
    n_learned = len(vocab) - len(fixed)
    k = 0
    while len(vocab) < vocab_size:
        vocab["<unused%d>" % k] = len(vocab)
        k += 1
    merges = [m for m in merges if m[0] in vocab and m[1] in vocab and (m[0] + m[1]) in vocab]
    for p in vocab:
        assert not ("\n" in p and p.strip("\n")), "piece mixes newlines with text: %r" % p

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos>:1 $B:1", special_tokens=[("<bos>", 2)])
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS + CONTROLS])
    assert tok.get_vocab_size(with_added_tokens=True) == vocab_size
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == i
    assert tok.token_to_id("<0x00>") == 4 and tok.token_to_id("<0xFF>") == 259
    info = {"vocab_size": vocab_size, "n_learned_pieces": n_learned, "n_unused": k, "n_merges": len(merges),
            "control_ids": {s: tok.token_to_id(s) for s in CONTROLS}}
    log("tokenizer:", json.dumps(info))
    return tok, info


def save_tokenizer(tok, d, template):
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>",
                                   pad_token="<pad>", mask_token="<mask>", add_bos_token=True, add_eos_token=False,
                                   model_max_length=MODEL["max_position_embeddings"])
    fast.chat_template = template
    fast.save_pretrained(d)
    # g4 and the GGUF converter read the template from tokenizer_config.json or chat_template.jinja
    cfgp = os.path.join(d, "tokenizer_config.json")
    cfg = json.load(open(cfgp, encoding="utf-8"))
    if "chat_template" not in cfg and not os.path.isfile(os.path.join(d, "chat_template.jinja")):
        cfg["chat_template"] = template
        json.dump(cfg, open(cfgp, "w", encoding="utf-8"), indent=2, ensure_ascii=False)
    log("tokenizer saved:", sorted(os.listdir(d)))
    return fast


# ---------------------------------------------------------------------------
# chat samples, rendered as the official template renders one user turn + generation prompt
# ---------------------------------------------------------------------------

def render_prompt(user):
    return "<bos><|turn>user\n" + user.strip() + "<turn|>\n<|turn>model\n<|channel>thought\n<channel|>"


SENT = re.compile(r"(?<=[.!?])\s+(?=[\"'A-Z])")
CONT = ["Continue: {p}", "Continue the text: {p}", "Continue this: {p}", "{p}"]
ABOUT = ["Tell me about the {w}.", "Tell me about the {w}", "tell me about the {w}", "What about the {w}?",
         "Write a few sentences about the {w}.", "Describe the {w}.", "Say something about the {w}."]


def chat_samples(docs, n, rng):
    paras = []
    for d in docs:
        for p in d.split("\n\n"):
            ss = [s for s in SENT.split(p) if s]
            if len(ss) >= 3 and all(len(s) < 400 for s in ss[:12]):
                paras.append(ss)
    out, n_about = [], 0
    while len(out) < n:
        ss = paras[rng.randrange(len(paras))]
        if rng.random() < 0.5:
            k1, k2 = rng.randint(1, 2), rng.randint(2, 4)
            if len(ss) < k1 + 2:
                continue
            i = rng.randrange(0, len(ss) - k1 - 1)
            p, a = " ".join(ss[i:i + k1]), " ".join(ss[i + k1:i + k1 + k2])
            if len(p) > 400 or len(a) > 700:
                continue
            user = rng.choice(CONT).format(p=p)
        else:
            k = rng.randint(2, 4)
            i = rng.randrange(0, max(1, len(ss) - k + 1))
            a = " ".join(ss[i:i + k])
            words = [w for w in re.findall(r"\bthe ([a-z]{4,})\b", a) if w not in STOP]
            if not words or len(a) > 700:
                continue
            user = rng.choice(ABOUT).format(w=rng.choice(words))
            n_about += 1
        out.append(render_prompt(user) + a + "<turn|>")
    log("chat samples: %d (%d 'about', %d 'continue'); e.g. %r" % (len(out), n_about, len(out) - n_about, out[0][:300]))
    return out


# ---------------------------------------------------------------------------
# model, perplexity as g4 computes it
# ---------------------------------------------------------------------------

def make_config(V, turn_end):
    from transformers import Gemma4TextConfig

    kw = dict(MODEL)
    kw.update(vocab_size=V, vocab_size_per_layer_input=V, pad_token_id=0, eos_token_id=[1, turn_end], bos_token_id=2)
    return Gemma4TextConfig(**kw)


def n_params(model):
    seen, n = set(), 0
    for p in model.parameters():
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            n += p.numel()
    return n


@torch.no_grad()
def g4_perplexity(model, ids, bos, ctx, stride, dev, batch=32):
    """`g4 perplexity`: windows of ctx tokens after a <bos>; window w > 0 scores only its last stride tokens."""
    wins, start = [], 0
    while True:
        n = min(len(ids) - start, ctx)
        wins.append((start, n))
        if start + n >= len(ids):
            break
        start += stride
    nll, scored = 0.0, 0
    for b in range(0, len(wins), batch):
        chunk = wins[b:b + batch]
        L = max(n for _, n in chunk) + 1
        x = torch.zeros(len(chunk), L, dtype=torch.long)
        for j, (s, n) in enumerate(chunk):
            x[j, 0] = bos
            x[j, 1:n + 1] = torch.tensor(ids[s:s + n])
        lg = model(input_ids=x.to(dev), use_cache=False).logits.float()
        lp = torch.log_softmax(lg, -1)
        for j, (s, n) in enumerate(chunk):
            first = 0 if b + j == 0 else ctx - stride
            tgt = x[j, first + 1:n + 1].to(dev)
            nll -= float(lp[j, first:n].gather(-1, tgt[:, None]).sum())
            scored += n - first
    return nll, scored


def greedy(model, ids, n, dev):
    x = torch.tensor([ids], device=dev)
    out = []
    with torch.no_grad():
        for _ in range(n):
            t = int(model(input_ids=x, use_cache=False).logits[0, -1].argmax())
            out.append(t)
            x = torch.cat([x, torch.tensor([[t]], device=dev)], 1)
    return out


def sample(model, ids, n, dev, stops, temp=0.0, top_k=40, gen=None):
    x = torch.tensor([ids], device=dev)
    out = []
    with torch.no_grad():
        for _ in range(n):
            lg = model(input_ids=x, use_cache=False).logits[0, -1].float()
            if temp <= 0:
                t = int(lg.argmax())
            else:
                v, i = torch.topk(lg / temp, top_k)
                t = int(i[torch.multinomial(torch.softmax(v, -1), 1, generator=gen)])
            out.append(t)
            if t in stops:
                break
            x = torch.cat([x, torch.tensor([[t]], device=dev)], 1)
    return out


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bundle", default=None)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--chat-frac", type=float, default=0.25)
    ap.add_argument("--epochs", type=float, default=7.0)
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--train-seconds", type=float, default=300.0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    import tokenizers
    import transformers
    from transformers import Gemma4ForCausalLM

    versions = {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
                "tokenizers": tokenizers.__version__}
    log("versions", json.dumps(versions), "args", json.dumps(vars(args)))
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    if dev == "cuda":
        log("device", torch.cuda.get_device_name(0))
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    out_model = os.path.join(args.out, "demo")
    out_fix = os.path.join(args.out, "fixture")
    os.makedirs(out_model, exist_ok=True)
    os.makedirs(out_fix, exist_ok=True)
    facts = {"versions": versions, "args": vars(args)}

    train_docs = read_docs(os.path.join(args.corpus, "train.txt"))
    valid_docs = read_docs(os.path.join(args.corpus, "valid.txt"))
    heldout_text = open(os.path.join(args.corpus, "heldout.txt"), encoding="utf-8").read()
    template = open(os.path.join(args.corpus, "chat_template.jinja"), encoding="utf-8").read()
    log("corpus: %d train docs (%d bytes), %d valid docs, held-out %d bytes" % (
        len(train_docs), sum(len(d.encode()) for d in train_docs), len(valid_docs), len(heldout_text.encode())))

    # --- tokenizer -----------------------------------------------------------------
    t1 = time.time()
    tok, tok_info = build_tokenizer(train_docs, args.vocab)
    fast = save_tokenizer(tok, out_model, template)
    facts["tokenizer"] = tok_info
    facts["tokenizer_seconds"] = round(time.time() - t1, 1)
    V, BOS, PAD = args.vocab, 2, 0
    TURN_END = tok.token_to_id("<turn|>")
    EOS_SET = {1, TURN_END, tok.token_to_id("<|tool_response>")}

    def enc(s):
        return tok.encode(s, add_special_tokens=False).ids

    def enc_batch(ss):
        return [e.ids for e in tok.encode_batch(ss, add_special_tokens=False)]

    # chat rendering check against transformers' apply_chat_template with the same template
    try:
        r = fast.apply_chat_template([{"role": "user", "content": "Tell me about the sea."}], tokenize=False,
                                     add_generation_prompt=True)
        facts["chat_render_matches_template"] = r == render_prompt("Tell me about the sea.")
        log("apply_chat_template:", repr(r), "matches:", facts["chat_render_matches_template"])
    except Exception as e:  # noqa: BLE001
        log("apply_chat_template failed:", repr(e))

    t1 = time.time()
    stream = []
    for ids in enc_batch(train_docs):
        stream.append(BOS)
        stream.extend(ids)
    vstream = []
    for ids in enc_batch(valid_docs):
        vstream.append(BOS)
        vstream.extend(ids)
    train_bytes = sum(len(d.encode()) for d in train_docs)
    log("tokenized: train %d tokens (%.2f bytes/token), valid %d tokens, in %.1fs" % (
        len(stream), train_bytes / len(stream), len(vstream), time.time() - t1))
    facts["train_tokens"] = len(stream)
    facts["train_bytes"] = train_bytes
    stream_t = torch.tensor(stream, dtype=torch.long, device=dev)
    T = args.seq
    nv = (len(vstream) - 1) // T
    vx = torch.tensor(vstream[:nv * T + 1], dtype=torch.long, device=dev)
    v_in, v_tg = vx[:-1].view(nv, T), vx[1:].view(nv, T)

    rng = random.Random(args.seed)
    n_chat = max(1, int(round(args.batch * args.chat_frac)))
    n_text = args.batch - n_chat
    steps_per_epoch = len(stream) / (n_text * T)
    total = int(args.epochs * steps_per_epoch)
    if args.max_steps:
        total = min(total, args.max_steps)
    chats = chat_samples(train_docs, min(total * n_chat + 1000, 80000), rng)
    cids = enc_batch(chats)
    cx = torch.full((len(cids), T + 1), PAD, dtype=torch.long)
    for i, c in enumerate(cids):
        c = c[:T + 1]
        cx[i, :len(c)] = torch.tensor(c)
    c_in = cx[:, :-1].to(dev)
    c_tg = cx[:, 1:].clone()
    c_tg[c_tg == PAD] = -100
    c_tg = c_tg.to(dev)
    facts["chat_samples"] = len(cids)
    facts["chat_tokens_mean"] = sum(len(c) for c in cids) / len(cids)
    log("chat: %d samples, mean %.1f tokens; batch %d = %d text + %d chat sequences of %d; %.1f steps/epoch, %d steps" % (
        len(cids), facts["chat_tokens_mean"], args.batch, n_text, n_chat, T, steps_per_epoch, total))

    # --- model ---------------------------------------------------------------------
    cfg = make_config(V, TURN_END)
    try:
        model = Gemma4ForCausalLM._from_config(cfg, attn_implementation="sdpa", dtype=torch.float32)
    except Exception as e:  # noqa: BLE001
        log("sdpa unavailable (%r); eager" % e)
        model = Gemma4ForCausalLM._from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    model.to(dev).train()
    facts["n_params"] = n_params(model)
    facts["n_params_by_part"] = {
        "embed_tokens": model.model.embed_tokens.weight.numel(),
        "embed_tokens_per_layer": model.model.embed_tokens_per_layer.weight.numel(),
    }
    log("model: %d parameters (%s); tied %s" % (facts["n_params"], facts["n_params_by_part"],
                                                 model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()))
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    nodecay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=dev == "cuda")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True

    def lr_at(step, total):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        p = min(1.0, (step - args.warmup) / max(1, total - args.warmup))
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))

    @torch.no_grad()
    def valid_loss():
        model.eval()
        tot, n = 0.0, 0
        for b in range(0, nv, 32):
            with torch.autocast(dev, dtype=torch.bfloat16):
                lg = model(input_ids=v_in[b:b + 32], use_cache=False).logits
            tot += float(F.cross_entropy(lg.float().reshape(-1, V), v_tg[b:b + 32].reshape(-1), reduction="sum"))
            n += v_tg[b:b + 32].numel()
        model.train()
        return tot / n

    g = torch.Generator(device=dev).manual_seed(args.seed)
    ar = torch.arange(T, device=dev)
    best = (float("inf"), -1, None)
    curve = []
    t_train = time.time()
    step = 0
    retimed = False
    while step < total:
        o = torch.randint(0, len(stream) - T - 1, (n_text,), device=dev, generator=g)
        tg = stream_t[o[:, None] + ar]
        x = torch.cat([torch.full((n_text, 1), BOS, device=dev, dtype=torch.long), tg[:, :-1]], 1)
        ci = torch.randint(0, c_in.shape[0], (n_chat,), device=dev, generator=g)
        x = torch.cat([x, c_in[ci]], 0)
        y = torch.cat([tg, c_tg[ci]], 0)
        for gr in opt.param_groups:
            gr["lr"] = lr_at(step, total)
        with torch.autocast(dev, dtype=torch.bfloat16):
            lg = model(input_ids=x, use_cache=False).logits
        loss = F.cross_entropy(lg.float().reshape(-1, V), y.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step == 30 and not retimed:
            torch.cuda.synchronize() if dev == "cuda" else None
            per = (time.time() - t_train) / 30
            fit = int(args.train_seconds / per)
            log("step time %.3fs: %d steps fit in %.0fs (planned %d)" % (per, fit, args.train_seconds, total))
            facts["step_seconds"] = round(per, 4)
            if fit < total:
                total = fit
                log("schedule shortened to %d steps (%.2f epochs)" % (total, total / steps_per_epoch))
            retimed = True
        if step % args.eval_every == 0 or step == total:
            vl = valid_loss()
            curve.append({"step": step, "epoch": round(step / steps_per_epoch, 2), "train_loss": round(float(loss), 4),
                          "valid_loss": round(vl, 4), "lr": lr_at(step, total), "seconds": round(time.time() - t_train, 1)})
            log("step %d/%d epoch %.2f loss %.4f valid %.4f (ppl %.2f) grad %.2f lr %.2e" % (
                step, total, step / steps_per_epoch, float(loss), vl, math.exp(vl), float(gn), lr_at(step, total)))
            if vl < best[0]:
                best = (vl, step, {k: v.detach().clone() for k, v in model.state_dict().items()})
    train_seconds = time.time() - t_train
    facts["train_seconds"] = round(train_seconds, 1)
    facts["steps"] = step
    facts["epochs"] = round(step / steps_per_epoch, 2)
    facts["curve"] = curve
    facts["best_step"] = best[1]
    facts["best_valid_loss"] = best[0]
    log("trained %d steps in %.1fs; best valid loss %.4f at step %d" % (step, train_seconds, best[0], best[1]))
    if best[2] is not None:
        model.load_state_dict(best[2])

    # --- save: weights rounded to float16 ------------------------------------------
    model.eval()
    model.generation_config.do_sample = True
    model.generation_config.temperature = 0.7
    model.generation_config.top_k = 40
    model.generation_config.top_p = 0.95
    model.generation_config.repetition_penalty = 1.1
    model.generation_config.eos_token_id = [1, TURN_END]
    model.generation_config.bos_token_id = BOS
    model.generation_config.pad_token_id = PAD
    mh = model.to(torch.float16)
    mh.save_pretrained(out_model, safe_serialization=True)
    log("saved:", {f: os.path.getsize(os.path.join(out_model, f)) for f in sorted(os.listdir(out_model))})

    # --- reference: the saved checkpoint in float32 ----------------------------------
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ref = Gemma4ForCausalLM.from_pretrained(out_model, dtype=torch.float32, attn_implementation="eager").eval()
    refg = ref.to(dev)

    # held-out perplexity, as `g4 perplexity heldout.txt` (ctx 512, stride 256)
    hid = enc(heldout_text)
    nll, scored = g4_perplexity(refg, hid, BOS, 512, 256, dev)
    hb, hc = len(heldout_text.encode("utf-8")), len(heldout_text)
    facts["heldout"] = {"bytes": hb, "chars": hc, "tokens": len(hid), "scored": scored, "nll": nll,
                        "ppl_token": math.exp(nll / scored), "ppl_byte": math.exp(nll / hb),
                        "bits_per_byte": nll / hb / math.log(2), "ppl_char": math.exp(nll / hc), "ctx": 512, "stride": 256}
    log("held-out:", json.dumps(facts["heldout"]))

    # the committed excerpt: the first paragraphs of the held-out text, about 3 KB
    paras = heldout_text.split("\n\n")
    ex = ""
    for p in paras:
        if len(ex) + len(p) > 3000 and ex:
            break
        ex += p + "\n\n"
    exid = enc(ex)
    enll, escored = g4_perplexity(refg, exid, BOS, 256, 128, dev)
    with open(os.path.join(out_fix, "heldout_excerpt.txt"), "w", encoding="utf-8") as f:
        f.write(ex)
    facts["heldout_excerpt"] = {"file": "heldout_excerpt.txt", "bytes": len(ex.encode()), "tokens": len(exid),
                                "ctx": 256, "stride": 128, "ppl_token": math.exp(enll / escored), "scored": escored}
    log("excerpt:", json.dumps(facts["heldout_excerpt"]))

    # samples for the record
    gen = torch.Generator(device=dev).manual_seed(7)
    samples = []
    for q in ["Tell me about the sea.", "Tell me about the whale.", "Continue: It was a cold morning in December.",
              "Tell me about the government.", "What is the capital of France?"]:
        ids = enc(render_prompt(q))
        for temp in (0.0, 0.7):
            o = sample(refg, ids, 120, dev, EOS_SET, temp=temp, gen=gen)
            samples.append({"prompt": q, "temp": temp, "stopped": bool(o and o[-1] in EOS_SET), "n": len(o),
                            "text": tok.decode(o, skip_special_tokens=False)})
            log("sample T=%.1f %r -> %r" % (temp, q, samples[-1]["text"]))
    for q in ["The ship", "In the beginning", "Fellow-Citizens of the Senate and House of Representatives:"]:
        o = sample(refg, [BOS] + enc(q), 80, dev, {1}, temp=0.7, gen=gen)
        samples.append({"prompt": q, "raw": True, "temp": 0.7, "text": tok.decode(o, skip_special_tokens=False)})
        log("raw sample %r -> %r" % (q, samples[-1]["text"]))
    facts["samples"] = samples

    # prompts: a raw text that crosses the sliding window, a chat prompt, a short raw text
    p1_text = " ".join(paras[1].split(" ")[:120])
    prompts = {
        "raw_long": [BOS] + enc(p1_text),
        "chat_sea": enc(render_prompt("Tell me about the sea.")),
        "raw_short": [BOS] + enc("The old man walked down to the harbour, and"),
    }
    texts = {"raw_long": p1_text, "chat_sea": render_prompt("Tell me about the sea."),
             "raw_short": "The old man walked down to the harbour, and"}
    refc = ref.to("cpu")  # last: the same module leaves the GPU
    fix = {}
    for name, ids in prompts.items():
        x = torch.tensor([ids])
        with torch.no_grad():
            lg = refc(input_ids=x, use_cache=False).logits[0].float()
        lg.contiguous().numpy().astype("<f4").tofile(os.path.join(out_fix, "ref_logits_%s.f32" % name))
        gr = greedy(refc, ids, 32, "cpu")
        fix[name] = {"text": texts[name], "tokens": ids, "n_tokens": len(ids), "file": "ref_logits_%s.f32" % name,
                     "greedy": gr, "greedy_text": tok.decode(gr, skip_special_tokens=False),
                     "max_abs_logit": float(lg.abs().max())}
        log("prompt %s: %d tokens, greedy %r" % (name, len(ids), fix[name]["greedy_text"]))

    # tokenizer references (HF tokenizers, no special tokens added)
    tok_tests = [texts["raw_long"], texts["raw_short"], "Hello world", "Tell me about the sea.",
                 "  two  leading spaces and  double", "line one\nline two\n\n\nline five",
                 "caf\u00e9 na\u00efve \u65e5\u672c\u8a9e \U0001F642 \u00bd\u2014"]
    tok_refs = [{"text": s, "ids": enc(s)} for s in tok_tests]
    # control tokens written in text: ids only when special-token parsing is asked for (g4 tokenize --special)
    tok_refs.append({"text": "<|turn>user\nHi<turn|>", "special": True, "ids": enc("<|turn>user\nHi<turn|>")})
    tok_refs.append({"file": "heldout_excerpt.txt", "ids": exid})

    refj = {"model": "models/demo.gguf", "n_vocab": V, "config": {k: v for k, v in MODEL.items()},
            "prompts": fix, "tokenizer_tests": tok_refs, "facts": facts,
            "notes": ["ref_logits_<name>.f32: float32 logits of one full forward (use_cache=False, eager attention, "
                      "float32 on the CPU) over prompts[name].tokens, row-major [n_tokens, n_vocab], little-endian",
                      "the weights are those of the saved checkpoint (float16), so g4 on the F16 GGUF computes the same function",
                      "greedy: 32 argmax tokens by full recompute, stop tokens ignored",
                      "tokenizer_tests: HF tokenizers ids without special tokens (no <bos>)",
                      "heldout ppl: g4 perplexity's algorithm (windows of ctx tokens after <bos>, stride)"]}
    with open(os.path.join(out_fix, "ref.json"), "w", encoding="utf-8") as f:
        json.dump(refj, f, indent=1, ensure_ascii=False)
    log("fixture:", {f: os.path.getsize(os.path.join(out_fix, f)) for f in sorted(os.listdir(out_fix))})


def bundle(out, dst):
    os.makedirs(dst, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(out, arcname="demo-out")
    data = buf.getvalue()
    part = 15 << 20
    for i in range(0, len(data), part):
        with open(os.path.join(dst, "bundle.tar.%02d" % (i // part)), "wb") as f:
            f.write(data[i:i + part])
    print("bundle: %d bytes in %d parts" % (len(data), (len(data) + part - 1) // part), flush=True)


if __name__ == "__main__":
    a = sys.argv
    out = a[a.index("--out") + 1] if "--out" in a else None
    bdst = a[a.index("--bundle") + 1] if "--bundle" in a else None
    try:
        main()
    finally:
        if out:
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, "train.log"), "w", encoding="utf-8") as f:
                f.write("\n".join(LOG) + "\n")
            if bdst:
                bundle(out, bdst)
