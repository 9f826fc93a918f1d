"""Readers for the sources of duocl's corpora (see shared/CORPORA.md).

Each reader takes the folder a package was unpacked into and yields cleaned
documents with a stable id; scripts/fetch_corpora.py splits and writes them.
Standard library only.
"""
import email
import email.policy
import glob
import gzip
import hashlib
import html.parser
import json
import os
import re


class FetchError(Exception):
    pass


def brown_docs(root):
    """(file id, genre letter, list of paragraphs) for every Brown file."""
    pkg = os.path.join(root, "package")
    for name in sorted(os.listdir(pkg)):
        if not re.fullmatch(r"c[a-r]\d\d", name):
            continue
        with open(os.path.join(pkg, name), encoding="utf-8", errors="replace") as f:
            raw = f.read()
        paragraphs = []
        for block in re.split(r"\n\s*\n", raw):
            sentences = [brown_detok(line) for line in block.split("\n") if line.strip()]
            if sentences:
                paragraphs.append(" ".join(sentences))
        yield name, name[1], paragraphs


NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "]", "}", "''", "'", "n't", "'s", "'re",
                   "'ve", "'ll", "'d", "'m", "%"}
NO_SPACE_AFTER = {"(", "[", "{", "``", "$"}


def brown_detok(line):
    words = []
    for tok in line.split():
        word = tok.rsplit("/", 1)[0] if "/" in tok else tok
        words.append(word)
    out = []
    glue = True
    for w in words:
        text = {"``": '"', "''": '"'}.get(w, w)
        if out and not glue and w not in NO_SPACE_BEFORE:
            out.append(" ")
        out.append(text)
        glue = w in NO_SPACE_AFTER
    return "".join(out)


def nlp_corpus_docs(root):
    """Groups of 20 consecutive sentences (one paragraph) from nlp-corpus's 100 shuffled files."""
    builds = os.path.join(root, "package", "builds")
    for name in sorted(os.listdir(builds), key=lambda n: int(re.sub(r"\D", "", n) or 0)):
        with open(os.path.join(builds, name), encoding="utf-8") as f:
            sentences = json.load(f)
        for g in range(0, len(sentences), 20):
            yield f"nlp:{name}:{g // 20}", " ".join(s.strip() for s in sentences[g:g + 20])


class HTMLText(html.parser.HTMLParser):
    BLOCK = {"p", "br", "div", "tr", "li", "h1", "h2", "h3", "h4", "table", "hr", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head", "title"):
            self.skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_to_text(markup):
    p = HTMLText()
    try:
        p.feed(markup)
        p.close()
    except Exception:
        return ""
    return "".join(p.parts)


def email_body(msg):
    plain, markup = None, None
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html"):
            continue
        try:
            text = part.get_content()
        except Exception:
            payload = part.get_payload(decode=True) or b""
            text = payload.decode("latin-1")
        if ctype == "text/plain" and plain is None:
            plain = text
        elif ctype == "text/html" and markup is None:
            markup = text
    text = plain if plain is not None else html_to_text(markup or "")
    lines, in_pgp = [], False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = line.rstrip()
        if stripped in ("--", "-- ") or re.fullmatch(r"_{30,}", stripped) \
                or re.fullmatch(r"-+ ?Original Message ?-+", stripped, re.I):
            break  # signature, mailing-list footer, or the quoted original below
        if stripped.startswith("-----BEGIN PGP SIGNATURE"):
            in_pgp = True
        if in_pgp:
            in_pgp = not stripped.startswith("-----END PGP SIGNATURE")
            continue
        if stripped.lstrip().startswith(">") or stripped.startswith("-----BEGIN PGP") \
                or stripped.startswith("Hash: "):
            continue  # quoted text, PGP armour
        if re.match(r"^(On .*|.* \(.*@.*\)) (wrote|said):$", stripped) \
                or re.match(r"^(From|To|Cc|Sent|Date|Subject|Reply-To): ", stripped):
            continue  # attribution and forwarded-header lines
        if re.fullmatch(r"\s*(\S)\1{4,}\s*", stripped) or (len(stripped) > 76 and " " not in stripped):
            continue  # rules of one repeated character; base64 and other unbroken runs
        lines.append(re.sub(r"[ \t\u00a0]+", " ", stripped).strip())
    paragraphs = []
    for block in re.split(r"\n\s*\n", "\n".join(lines)):
        rows = [r for r in block.split("\n") if r]
        # Unwrap hard-wrapped prose (every line but the last is long); keep
        # lists, tables and short lines as they are.
        if len(rows) > 1 and all(len(r) >= 40 for r in rows[:-1]):
            rows = [" ".join(rows)]
        if rows:
            paragraphs.append("\n".join(rows))
    return "\n\n".join(paragraphs)


def spam_docs(root):
    """(id, is_spam, subject, body) for every SpamAssassin message with a body >= 100 chars."""
    data = os.path.join(root, "package", "data")
    policy = email.policy.default
    seen = set()
    for group in sorted(os.listdir(data)):
        gdir = os.path.join(data, group)
        if not os.path.isdir(gdir):
            continue
        for name in sorted(os.listdir(gdir)):
            if not name.endswith(".txt"):
                continue
            with open(os.path.join(gdir, name), "rb") as f:
                raw = f.read()
            try:
                msg = email.message_from_bytes(raw, policy=policy)
                body = email_body(msg)
                subject = str(msg.get("subject", "") or "")
            except Exception:
                continue
            digest = hashlib.sha1(body.encode("utf-8", errors="replace")).digest()
            if len(body) < 100 or digest in seen:
                continue  # too short, or the same body again (spam repeats itself)
            seen.add(digest)
            subject = re.sub(r"\s+", " ", subject).strip()
            yield f"spam:{group}/{name[:5]}", group.startswith("spam"), subject, body


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64num(s):
    v = 0
    for c in s:
        v = v * 64 + B64.index(c)
    return v


def foldoc_docs(root):
    """(id, headword, cleaned text, first paragraph) for every FOLDOC entry."""
    share = os.path.join(root, "usr", "share", "dictd")
    with gzip.open(os.path.join(share, "foldoc.dict.dz")) as f:
        data = f.read()
    seen = set()
    with open(os.path.join(share, "foldoc.index"), encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or parts[0].startswith("00-database"):
                continue
            off, size = b64num(parts[1]), b64num(parts[2])
            if off in seen:
                continue  # aliases point at the same entry
            seen.add(off)
            entry = data[off:off + size].decode("utf-8", errors="replace")
            head, _, body = entry.partition("\n")
            paragraphs = []
            for block in re.split(r"\n\s*\n", body):
                lines = [l[3:] if l.startswith("   ") else l.strip() for l in block.split("\n")]
                lines = [l for l in lines if l.strip()]
                if not lines:
                    continue
                if all(not l.startswith(" ") for l in lines):
                    text = " ".join(l.strip() for l in lines)  # prose: unwrap
                else:
                    text = "\n".join(lines)
                text = re.sub(r"\{([^{}]*)\}", r"\1", text)
                if re.fullmatch(r"\(\d{4}-\d\d-\d\d\)", text.strip()):
                    continue  # the entry's last-updated date
                paragraphs.append(text)
            if not paragraphs:
                continue
            head = head.strip()
            first = re.sub(r"^<[^>]*>\s*", "", re.sub(r"^\d+\.\s*", "", paragraphs[0]))
            yield f"foldoc:{off}", head, head + "\n\n" + "\n\n".join(paragraphs), first


def stdlib_files():
    """(relpath, text) for every CPython standard-library module (no tests, codecs, data)."""
    roots = sorted(glob.glob("/usr/lib/python3.*/os.py"))
    if not roots:
        raise FetchError("no CPython standard library under /usr/lib/python3.*/")
    root = os.path.dirname(roots[-1])
    skip_dirs = {"encodings", "pydoc_data", "test", "tests", "idle_test", "site-packages",
                 "dist-packages", "lib-dynload", "__pycache__"}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = sorted(d for d in dirnames
                             if d not in skip_dirs and not d.startswith("config-"))
        for name in sorted(filenames):
            if not name.endswith(".py") or name.startswith("_sysconfigdata") \
                    or name.startswith("test_"):
                continue
            rel = os.path.normpath(os.path.join(rel_dir, name))
            with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as f:
                yield rel, f.read()


def rst_clean(text):
    text = re.sub(r"`([^`<]+?)\s*<[^>]+>`_+", r"\1", text)
    text = re.sub(r":[a-z]+(?::[a-z]+)?:`~?([^`]+)`", r"\1", text)
    text = re.sub(r"``([^`]+)``", r"\1", text)
    text = re.sub(r"^\.\. [^\n]*\n", "", text, flags=re.M)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def python_faq(root):
    """(id, question, answer) from the Python FAQ's reST sources."""
    faq = glob.glob(os.path.join(root, "usr", "share", "doc", "python3*", "html", "_sources",
                                 "faq"))
    for path in sorted(glob.glob(os.path.join(faq[0], "*.rst.txt")) if faq else []):
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        heads = [i for i in range(len(lines) - 1)
                 if lines[i].strip() and re.fullmatch(r"([-=~^*])\1{2,}", lines[i + 1].strip())
                 and len(lines[i + 1].strip()) >= len(lines[i].strip()) - 1]
        for n, i in enumerate(heads):
            question = lines[i].strip()
            if not question.endswith("?"):
                continue
            end = heads[n + 1] if n + 1 < len(heads) else len(lines)
            answer = rst_clean("\n".join(lines[i + 2:end]))
            if answer:
                yield f"pyfaq:{os.path.basename(path)}:{i}", rst_clean(question), answer


def pod_clean(text):
    for _ in range(3):
        text = re.sub(r"[A-Z]<<+\s+(.*?)\s+>>+", r"\1", text)
        text = re.sub(r"[LCIBFSE]<([^<>]*)>", lambda m: m.group(1).split("|")[0], text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def perl_faq(root):
    for path in sorted(glob.glob(os.path.join(root, "usr", "share", "perl", "*", "pod",
                                              "perlfaq[1-9].pod"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        parts = re.split(r"^=head2 (.*)$", text, flags=re.M)
        for k in range(1, len(parts) - 1, 2):
            body = re.split(r"^=head1", parts[k + 1], flags=re.M)[0]
            body = re.sub(r"^=\w+.*$", "", body, flags=re.M)
            answer = pod_clean(body)
            if answer:
                yield f"perlfaq:{os.path.basename(path)}:{k}", pod_clean(parts[k]), answer


def riddles(root):
    """Question-and-answer fortunes: 'Q: ... A: ...' pairs and short question jokes."""
    fdir = os.path.join(root, "usr", "share", "games", "fortunes")
    for name in sorted(os.listdir(fdir)):
        path = os.path.join(fdir, name)
        if "." in name or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            entries = f.read().split("\n%\n")
        for k, entry in enumerate(entries):
            entry = entry.strip()
            m = re.search(r"(?:^|\n)\s*Q[:.]\s*(.+?)\n\s*A[:.]\s*(.+?)(?=\n\s*Q[:.]|\Z)", entry, re.S)
            if not m:  # a one-line question answered in a line or two, no attribution
                m = re.match(r"([A-Z][^\n]{5,150}\?)\s*\n\s*([^-<(\s\n][^\n]{1,150}(?:\n[^\n]{1,80})?)\Z",
                             entry)
                if m and (re.search(r"--|:\t|^\S+:\s", m.group(2)) or "\t" in entry):
                    m = None
            if m:
                q = re.sub(r"\s+", " ", m.group(1)).strip()
                a = re.sub(r"[ \t]+", " ", m.group(2)).strip()
                yield f"fortune:{name}:{k}", q, a
