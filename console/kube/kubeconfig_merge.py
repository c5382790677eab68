"""Which kubeconfig files count, and how several merge: exactly kubectl's rules, in one place.

client-go's `ClientConfigLoadingRules.Load` (k8s.io/client-go/tools/clientcmd/loader.go, with merge.go and
api/v1/conversion.go) decides this for kubectl:
- `--kubeconfig FILE` is the only file read (`ExplicitPath`); it must exist, and `KUBECONFIG` is ignored.
- Otherwise `KUBECONFIG` is split on the path-list separator and de-duplicated keeping order
  (`NewDefaultClientConfigLoadingRules`, `deduplicate`); without it, `~/.kube/config`.
- Empty names and missing files are skipped; a file with no content decodes to an empty config; a file
  that cannot be read or parsed is an error.
- "The first file to set a particular map key wins and map key's value is never changed": each named
  cluster, user and context is taken whole from the first file that defines the name (the later files'
  entries of that name are discarded, even their non-conflicting fields). The struct values (such as
  `current-context`) are merged in reverse file order, so the first file that sets one wins as well.
- A name listed twice in one file is an error (the v1 → internal conversion refuses duplicates).
- Relative paths in a cluster or user (certificate-authority, client-certificate, client-key, tokenFile,
  and an exec command that contains a path separator) resolve against the folder of the file that
  defined the entry (`ResolveLocalPaths`).

The official Python loader's merger (`kube_config.KubeConfigMerger`) differs: the *last* file that sets
`current-context` wins, an empty file is an error, and client certificates resolve against the
cluster's file. So files are merged here and the official `KubeConfigLoader` gets one merged dict.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECTIONS = ("clusters", "users", "contexts")
# Path-valued fields per section, as client-go's GetClusterFileReferences / GetAuthInfoFileReferences list them.
PATH_FIELDS = {"clusters": ("certificate-authority",), "users": ("client-certificate", "client-key", "tokenFile")}


class KubeconfigError(Exception):
    """A kubeconfig file that cannot be used: the message names the file and says why."""


@dataclass
class Merged:
    """The merged kubeconfig: a dict the official loader accepts, and where each entry came from."""

    doc: dict[str, Any]
    files: list[str]                       # the files looked at, in precedence order
    read: list[str] = field(default_factory=list)      # those that existed
    missing: list[str] = field(default_factory=list)
    origin: dict[tuple[str, str], str] = field(default_factory=dict)  # (section, name) -> file
    current_from: str = ""                 # the file whose current-context won

    def entry(self, section: str, name: str) -> dict[str, Any] | None:
        for e in self.doc[section]:
            if e.get("name") == name:
                return e
        return None

    def context_names(self) -> list[str]:
        """Context names in `kubectl config get-contexts` order: sorted by name (get_contexts.go sorts)."""
        return sorted(str(c["name"]) for c in self.doc["contexts"])


def default_path() -> str:
    return str(Path.home() / ".kube" / "config")


def kubeconfig_files(kubeconfig: str | None = None) -> tuple[list[str], bool]:
    """The files kubectl would read, in precedence order, and whether the one file was named explicitly."""
    if kubeconfig:
        return [kubeconfig], True
    env = os.environ.get("KUBECONFIG")
    if env:
        out: list[str] = []
        for p in env.split(os.pathsep):
            if p and p not in out:
                out.append(p)
        return out, False
    return [default_path()], False


def show_path(path: str) -> str:
    """A path as a message shows it: as given, with the home folder written `~`."""
    home = str(Path.home())
    if home and home != "/" and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home):]
    return path


def _parse(path: str, text: str) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise KubeconfigError(f"kubeconfig {show_path(path)} is not valid YAML{where}: "
                              f"{getattr(e, 'problem', None) or e}") from None
    if doc is None:
        return {}  # empty, blank or only comments: kubectl reads it as an empty config
    if not isinstance(doc, dict):
        raise KubeconfigError(f"kubeconfig {show_path(path)} is not a kubeconfig (expected a mapping, "
                              f"found {type(doc).__name__})")
    return doc


def _resolve(section: str, entry: dict[str, Any], base: str) -> dict[str, Any]:
    """A copy of `entry` with its relative paths made absolute against `base` (the file's folder)."""
    out = copy.deepcopy(entry)
    body = out.get("cluster" if section == "clusters" else "user")
    if section == "contexts" or not isinstance(body, dict):
        return out
    for key in PATH_FIELDS[section]:
        v = body.get(key)
        if isinstance(v, str) and v and not os.path.isabs(v):
            body[key] = os.path.join(base, v)
    ex = body.get("exec")
    if section == "users" and isinstance(ex, dict):
        cmd = ex.get("command")
        if isinstance(cmd, str) and os.sep in cmd and not os.path.isabs(cmd):
            ex["command"] = os.path.join(base, cmd)
    return out


def merge(kubeconfig: str | None = None) -> Merged:
    """Read and merge the kubeconfig files as kubectl does (see the module docstring)."""
    files, explicit = kubeconfig_files(kubeconfig)
    m = Merged(doc={"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": [],
                    "current-context": ""}, files=files)
    seen: dict[str, set[str]] = {s: set() for s in SECTIONS}
    for path in files:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            if explicit:
                raise KubeconfigError(f"kubeconfig {show_path(path)} not found") from None
            m.missing.append(path)
            continue
        except IsADirectoryError:
            raise KubeconfigError(f"kubeconfig {show_path(path)} is a folder, not a file") from None
        except OSError as e:
            raise KubeconfigError(f"cannot read kubeconfig {show_path(path)}: {e.strerror or e}") from None
        except UnicodeDecodeError:
            raise KubeconfigError(f"kubeconfig {show_path(path)} is not text (not UTF-8)") from None
        m.read.append(path)
        doc = _parse(path, text)
        base = os.path.dirname(os.path.abspath(path))
        for section in SECTIONS:
            entries = doc.get(section) or []
            if not isinstance(entries, list):
                raise KubeconfigError(f"kubeconfig {show_path(path)}: {section} must be a list")
            names_here: set[str] = set()
            for e in entries:
                if not isinstance(e, dict) or not isinstance(e.get("name"), str):
                    raise KubeconfigError(f"kubeconfig {show_path(path)}: every entry of {section} needs a name")
                name = e["name"]
                if name in names_here:
                    raise KubeconfigError(f"kubeconfig {show_path(path)}: {section} lists {name!r} twice")
                names_here.add(name)
                if name in seen[section]:
                    continue  # an earlier file set this name: it wins whole
                seen[section].add(name)
                m.doc[section].append(_resolve(section, e, base))
                m.origin[(section, name)] = path
        cur = doc.get("current-context")
        if cur and not m.doc["current-context"]:
            m.doc["current-context"] = str(cur)
            m.current_from = path
    return m
