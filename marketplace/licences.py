"""Dataset licences, as SPDX licence identifiers.

Decision: a listing's licence must be one of the SPDX identifiers below (the common data and
code licences; matched case-insensitively and stored in SPDX's canonical spelling), or a
custom ``LicenseRef-<idstring>`` -- SPDX's own form for terms that are not on the SPDX list
(``idstring`` is letters, digits, ``.`` and ``-``). Other well-formed but unlisted ids are
refused on purpose: a typo such as ``CC-BY-4`` must not slip through as a "valid" licence.
Extend ``SPDX_LICENCES`` to accept more.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

SPDX_LICENCES: dict[str, str] = {
    "CC0-1.0": "Creative Commons Zero v1.0 Universal",
    "CC-BY-4.0": "Creative Commons Attribution 4.0",
    "CC-BY-SA-4.0": "Creative Commons Attribution Share Alike 4.0",
    "CC-BY-NC-4.0": "Creative Commons Attribution Non Commercial 4.0",
    "CC-BY-NC-SA-4.0": "Creative Commons Attribution Non Commercial Share Alike 4.0",
    "CC-BY-ND-4.0": "Creative Commons Attribution No Derivatives 4.0",
    "CC-BY-NC-ND-4.0": "Creative Commons Attribution Non Commercial No Derivatives 4.0",
    "CC-BY-3.0": "Creative Commons Attribution 3.0 Unported",
    "CC-BY-SA-3.0": "Creative Commons Attribution Share Alike 3.0 Unported",
    "CC-PDDC": "Creative Commons Public Domain Dedication and Certification",
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
    "GPL-3.0-only": "GNU General Public License v3.0 only",
    "GPL-3.0-or-later": "GNU General Public License v3.0 or later",
    "LGPL-3.0-only": "GNU Lesser General Public License v3.0 only",
    "AGPL-3.0-only": "GNU Affero General Public License v3.0",
    "GFDL-1.3-only": "GNU Free Documentation License v1.3 only",
    "Unlicense": "The Unlicense",
}
_CANONICAL = {key.casefold(): key for key in SPDX_LICENCES}
LICENSE_REF = re.compile(r"^LicenseRef-[A-Za-z0-9.\-]+$")


def licence_normalise(value: str) -> str:
    """Return the canonical SPDX spelling of ``value`` or raise ``ValidationError``."""
    candidate = (value or "").strip()
    if not candidate:
        raise ValidationError({"licence": "A licence is required (an SPDX id such as CC-BY-4.0)."})
    canonical = _CANONICAL.get(candidate.casefold())
    if canonical is not None:
        return canonical
    if candidate[:11].casefold() == "licenseref-":
        candidate = "LicenseRef-" + candidate[11:]
        if LICENSE_REF.match(candidate):
            return candidate
    raise ValidationError(
        {
            "licence": (
                f"{value!r} is not an accepted SPDX licence id. Use one of "
                f"{', '.join(SPDX_LICENCES)}, or LicenseRef-<name> for custom terms."
            )
        }
    )


def licence_choices() -> list[tuple[str, str]]:
    return [(key, f"{key} — {name}") for key, name in SPDX_LICENCES.items()]
