"""``--collateral DIR`` and ``collateral show DIR``: every bundle of a folder, skipping the rest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .common import CliError, print_note

if TYPE_CHECKING:
    from ..collateral import Collateral, OfflineSource

__all__ = ["BundleFolder", "load_bundle_folder", "offline_source"]


class BundleFolder:
    """The bundles of a folder's ``*.json`` files, and the files skipped with the reason."""

    __slots__ = ("bundles", "path", "skipped")

    def __init__(
        self, path: Path, bundles: list[tuple[Path, Collateral]], skipped: list[tuple[Path, str]]
    ) -> None:
        self.path = path
        self.bundles = bundles
        self.skipped = skipped


def load_bundle_folder(path: str, *, notes: bool = True, required: bool = True) -> BundleFolder:
    """Read every ``*.json`` of the folder ``path``; files that are not bundles are skipped.

    Each skipped file is noted on standard error (with ``notes``).  Raises
    :class:`~tdxquote._cli.common.CliError` when the folder cannot be listed,
    or (with ``required``) holds no bundle at all.
    """
    from ..collateral import Collateral
    from ..errors import CollateralFormatError

    folder = Path(path)
    try:
        files = sorted(item for item in folder.glob("*.json") if item.is_file())
    except OSError as exc:
        raise CliError(f"{path}: cannot list: {exc.strerror or exc}") from None
    bundles: list[tuple[Path, Collateral]] = []
    skipped: list[tuple[Path, str]] = []
    for file in files:
        try:
            bundles.append((file, Collateral.from_json(file.read_bytes()).decoded()))
        except CollateralFormatError as exc:
            skipped.append((file, f"not a collateral bundle: {exc.message}"))
        except OSError as exc:
            skipped.append((file, f"cannot read: {exc.strerror or exc}"))
    if notes:
        for file, reason in skipped:
            print_note(f"skipped {file}: {reason}")
    if required and not bundles:
        found = f"{len(files)} *.json file(s), none a bundle" if files else "no *.json file"
        raise CliError(f"{path}: no collateral bundle in this folder ({found})")
    return BundleFolder(folder, bundles, skipped)


def offline_source(path: str) -> OfflineSource:
    """An :class:`~tdxquote.collateral.OfflineSource` over the bundles of the folder ``path``.

    A folder without bundles is not an error here: the source then says that
    it holds no collateral for the quote's platform.
    """
    from ..collateral import OfflineSource

    folder = load_bundle_folder(path, required=False)
    source = OfflineSource([bundle for _, bundle in folder.bundles])
    source.where = path
    return source
