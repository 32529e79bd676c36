#!/usr/bin/env python3
"""make-bench-corpus.py OUT.txt MB: about MB megabytes of mixed text for tokenizer benchmarks,
from files every Debian machine has: licences, Python and C++ sources, and the translated
messages of installed programs (many scripts). The text repeats when the sources run out."""
import gettext, glob, sys, sysconfig

def sources():
    for p in sorted(glob.glob("/usr/share/common-licenses/*")):
        yield p, "strict"
    for p in sorted(glob.glob(sysconfig.get_paths()["stdlib"] + "/*.py")):
        yield p, "replace"
    for p in sorted(glob.glob("/usr/include/c++/*/bits/*.h")):
        yield p, "replace"

out, want = sys.argv[1], int(float(sys.argv[2]) * 1e6)
parts = []
for path, errors in sources():
    try:
        with open(path, encoding="utf-8", errors=errors) as f:
            parts.append(f.read())
    except (UnicodeDecodeError, OSError):
        pass
for path in sorted(glob.glob("/usr/share/locale/*/LC_MESSAGES/*.mo")):
    try:
        with open(path, "rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog
        parts.append("\n".join(v for v in catalog.values() if isinstance(v, str)))
    except Exception:
        pass
blob = "\n\n".join(parts).encode("utf-8")
data = (blob * (want // max(len(blob), 1) + 1))[:want]
data = data[: data.rfind(b"\n") + 1]  # end on a whole line (and a whole character)
with open(out, "wb") as f:
    f.write(data)
print(f"{out}: {len(data)} bytes ({len(blob)} bytes of distinct text)")
