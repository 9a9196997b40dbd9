"""Dataset licences, as SPDX licence identifiers.

Decision: a listing's licence is an SPDX licence expression whose every id is one of the
SPDX identifiers below (the common data and code licences; matched case-insensitively and
stored in SPDX's canonical spelling) or a custom ``LicenseRef-<idstring>`` -- SPDX's own form
for terms that are not on the SPDX list (``idstring`` is letters, digits, ``.`` and ``-``).
Ids may be combined with ``AND`` / ``OR`` and parentheses (``WordNet AND MIT``); ``WITH``
exceptions are not supported. Other well-formed but unlisted ids are refused on purpose: a
typo such as ``CC-BY-4`` must not slip through as a "valid" licence. Extend
``SPDX_LICENCES`` to accept more.
"""

from __future__ import annotations

import re

from core.errors import Invalid

SPDX_LICENCES: dict[str, str] = {
    "CC0-1.0": "Creative Commons Zero v1.0 Universal",
    "CC-BY-4.0": "Creative Commons Attribution 4.0",
    "CC-BY-SA-4.0": "Creative Commons Attribution Share Alike 4.0",
    "CC-BY-NC-4.0": "Creative Commons Attribution Non Commercial 4.0",
    "CC-BY-NC-SA-4.0": "Creative Commons Attribution Non Commercial Share Alike 4.0",
    "CC-BY-ND-4.0": "Creative Commons Attribution No Derivatives 4.0",
    "CC-BY-NC-ND-4.0": "Creative Commons Attribution Non Commercial No Derivatives 4.0",
    "CC-BY-3.0": "Creative Commons Attribution 3.0 Unported",
    "CC-BY-2.5": "Creative Commons Attribution 2.5 Generic",
    "CC-BY-2.0": "Creative Commons Attribution 2.0 Generic",
    "CC-BY-SA-2.5": "Creative Commons Attribution Share Alike 2.5 Generic",
    "CC-BY-SA-3.0": "Creative Commons Attribution Share Alike 3.0 Unported",
    "CC-PDDC": "Creative Commons Public Domain Dedication and Certification",
    "CC-PDM-1.0": "Creative Commons Public Domain Mark v1.0 Universal",
    "PDDL-1.0": "Open Data Commons Public Domain Dedication & License 1.0",
    "ODC-By-1.0": "Open Data Commons Attribution License v1.0",
    "ODbL-1.0": "Open Data Commons Open Database License v1.0",
    "CDLA-Permissive-1.0": "Community Data License Agreement Permissive 1.0",
    "CDLA-Permissive-2.0": "Community Data License Agreement Permissive 2.0",
    "CDLA-Sharing-1.0": "Community Data License Agreement Sharing 1.0",
    "MIT": "MIT License",
    "Apache-2.0": "Apache License 2.0",
    "BSD-2-Clause": 'BSD 2-Clause "Simplified" License',
    "BSD-3-Clause": 'BSD 3-Clause "New" or "Revised" License',
    "MPL-2.0": "Mozilla Public License 2.0",
    "ISC": "ISC License",
    "Zlib": "zlib License",
    "GPL-2.0-only": "GNU General Public License v2.0 only",
    "GPL-2.0-or-later": "GNU General Public License v2.0 or later",
    "LGPL-2.1-only": "GNU Lesser General Public License v2.1 only",
    "GPL-3.0-only": "GNU General Public License v3.0 only",
    "GPL-3.0-or-later": "GNU General Public License v3.0 or later",
    "LGPL-3.0-only": "GNU Lesser General Public License v3.0 only",
    "AGPL-3.0-only": "GNU Affero General Public License v3.0",
    "GFDL-1.3-only": "GNU Free Documentation License v1.3 only",
    "Unlicense": "The Unlicense",
    "WordNet": "WordNet License",
    "OGL-UK-3.0": "Open Government Licence v3.0",
}
_CANONICAL = {key.casefold(): key for key in SPDX_LICENCES}
LICENSE_REF = re.compile(r"^LicenseRef-[A-Za-z0-9.\-]+$")
_TOKEN = re.compile(r"\(|\)|[A-Za-z0-9.+\-]+")


def _normalise_id(token: str) -> str | None:
    canonical = _CANONICAL.get(token.casefold())
    if canonical is not None:
        return canonical
    if token[:11].casefold() == "licenseref-":
        candidate = "LicenseRef-" + token[11:]
        if LICENSE_REF.match(candidate):
            return candidate
    return None


def _refuse(value: str, detail: str) -> Invalid:
    return Invalid(
        f"{value!r} is not an accepted licence: {detail}. Use an SPDX id such as "
        f"{', '.join(list(SPDX_LICENCES)[:6])} (full list in the form), ids joined "
        "with AND/OR, or LicenseRef-<name> for custom terms.",
        field="licence",
    )


def licence_normalise(value: str) -> str:
    """Return the canonical SPDX spelling of ``value`` or raise ``Invalid``."""
    candidate = (value or "").strip()
    if not candidate:
        raise Invalid("A licence is required (an SPDX id such as CC-BY-4.0).", field="licence")
    if len(candidate) > 128:
        raise _refuse(candidate[:40] + "...", "longer than 128 characters")
    tokens = _TOKEN.findall(candidate)
    if "".join(tokens) != candidate.replace(" ", "").replace("\t", ""):
        raise _refuse(value, "it contains characters outside SPDX ids and operators")
    output: list[str] = []
    depth = 0
    expect_id = True
    for token in tokens:
        upper = token.upper()
        if expect_id:
            if token == "(":
                depth += 1
                output.append(token)
                continue
            normalised = _normalise_id(token)
            if normalised is None:
                what = (
                    "licence exceptions (WITH) are not supported"
                    if upper == "WITH"
                    else (f"{token!r} is not a known SPDX licence id")
                )
                raise _refuse(value, what)
            output.append(normalised)
            expect_id = False
        elif token == ")":
            depth -= 1
            if depth < 0:
                raise _refuse(value, "unbalanced parentheses")
            output.append(token)
        elif upper in ("AND", "OR"):
            output.append(upper)
            expect_id = True
        else:
            detail = (
                "licence exceptions (WITH) are not supported"
                if upper == "WITH"
                else f"expected AND or OR before {token!r}"
            )
            raise _refuse(value, detail)
    if expect_id or depth:
        raise _refuse(value, "the expression is incomplete")
    text = " ".join(output)
    return text.replace("( ", "(").replace(" )", ")")


def licence_choices() -> list[tuple[str, str]]:
    return [(key, f"{key} — {name}") for key, name in SPDX_LICENCES.items()]
