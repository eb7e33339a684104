"""Build ``registry.json`` (file -> public origin, licence, sha256, size) from a mirror's README and SHA256SUMS.

Run once against a trusted mirror:  python datasets/build_registry.py ../shared/datasets
The data files themselves are never committed; only this index of where they come from.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

SOURCES = {
    "fitsnap-WBe": {"repo": "https://github.com/FitSNAP/FitSNAP", "commit": "1a9b0507fa2ba292a6497ec363707944c1cb89cd",
                    "licence": "GPL-2.0", "cite": "M. A. Wood et al., Phys. Rev. B 99, 184305 (2019); GAP-W groups: W. J. Szlachta, A. P. Bartok, G. Csanyi, Phys. Rev. B 90, 104108 (2014)"},
    "fitsnap-Ta": {"repo": "https://github.com/FitSNAP/FitSNAP", "commit": "1a9b0507fa2ba292a6497ec363707944c1cb89cd",
                   "licence": "GPL-2.0", "cite": "A. P. Thompson et al., J. Comput. Phys. 285, 316 (2015)"},
    "maml-MoNbTaW": {"repo": "https://github.com/materialsvirtuallab/maml", "commit": "f7c0b6f687c994b3bb87a380bffcc1c041781b4d",
                     "licence": "BSD-3-Clause", "cite": "maml (Materials Virtual Lab); X.-G. Li et al., Phys. Rev. B 98, 094104 (2018)"},
    "mlearn": {"repo": "https://github.com/materialsvirtuallab/mlearn", "commit": "10c427a5480c6281c15c64efaf869b03be04818f",
               "licence": "BSD-3-Clause", "cite": "Y. Zuo et al., J. Phys. Chem. A 124, 731 (2020)"},
    "gbdb": {"repo": "https://pypi.org/project/maml/2022.5.3/", "commit": "maml-2022.5.3-py3-none-any.whl",
             "licence": "BSD-3-Clause (package), CC BY 4.0 (MP data)", "cite": "H. Zheng et al., Acta Mater. 186, 40 (2020)"},
    "mp-elements": {"repo": "https://pypi.org/project/matcalc/0.7.0/", "commit": "matcalc-0.7.0.tar.gz",
                    "licence": "BSD-3-Clause (package), CC BY 4.0 (MP data)", "cite": "A. Jain et al., APL Mater. 1, 011002 (2013)"},
}


def build(mirror: Path) -> dict:
    readme = (mirror / "README.md").read_text()
    upstream = {}
    for m in re.finditer(r"^- `([^`]+)` <- (\S+) `([^`]+)`(?: - (.*))?$", readme, re.M):
        upstream[m.group(1)] = {"upstream_path": m.group(3), "description": (m.group(4) or "").strip()}
    files = {}
    for line in (mirror / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split(maxsplit=1)
        rel = rel.removeprefix("./")
        src = rel.split("/")[0]
        entry = {"sha256": digest, "size": (mirror / rel).stat().st_size, "source": src, **SOURCES.get(src, {})}
        entry.update(upstream.get(rel, {}))
        files[rel] = entry
    return {"format": "revem-data-registry/1", "mirror_readme_sha256": None, "files": files}


if __name__ == "__main__":
    mirror = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets")
    out = Path(__file__).resolve().parent.parent / "revem" / "registry.json"
    out.write_text(json.dumps(build(mirror), indent=1, sort_keys=True) + "\n")
    print(f"wrote {out} ({len(json.loads(out.read_text())['files'])} files)")
