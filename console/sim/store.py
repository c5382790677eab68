"""The simulated apiserver's object store: one global resourceVersion, a retained watch window, owner GC.

Everything runs on one asyncio loop, so the store needs no locks. Stored objects are plain dicts and
are never mutated in place: every write stores a new dict, so a reader holding an old one (a watch
queue, a list being serialised) keeps a consistent view. Callers must treat what they get as read-only
and copy (`clone`) before changing it.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as _dt
import random
import time
import uuid as _uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import graceful
from .errors import ApiError, already_exists, conflict, gone, not_found
from .resources import NAMESPACES, RESOURCES, VIRTUAL, ResourceType
from .selectors import FieldSelector, LabelSelector

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace or "", name)

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"
FOREGROUND = "foregroundDeletion"  # metav1.FinalizerDeleteDependents: the owner waits for its dependents

_SCALARS = (str, int, float, bool, type(None))


def clone(o: Any) -> Any:
    """A deep copy of JSON-shaped data: three times faster than `copy.deepcopy`, which every write pays
    (a busy cluster's status updates are most of the simulator's CPU). Other types go to deepcopy."""
    t = type(o)
    if t is dict:
        return {k: v if type(v) in _SCALARS else clone(v) for k, v in o.items()}
    if t is list:
        return [v if type(v) in _SCALARS else clone(v) for v in o]
    if t in _SCALARS:
        return o
    return copy.deepcopy(o)


_ALNUM = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for generateName suffixes


def rand_suffix(n: int = 5, rng: random.Random | None = None) -> str:
    r = rng or random
    return "".join(r.choice(_ALNUM) for _ in range(n))


def utcnow() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Change:
    """One entry of the watch log."""

    rv: int
    rkey: str
    type: str
    obj: Obj
    old: Obj | None


# An admission hook sees (resource, new object, old object or None, operation) and may change the new
# object (defaulting) or raise ApiError (validation). Operation: CREATE, UPDATE, DELETE.
Admission = Callable[[ResourceType, Obj, Obj | None, str], None]
Listener = Callable[[Change], None]


@dataclass(eq=False)
class Watch:
    """One open watch: the store pushes matching changes into `queue`; None means the watch closed."""

    rt: ResourceType
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    closed: bool = False
    max_backlog: int = 50_000

    def _matches(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        md = obj.get("metadata", {})
        if self.namespace and md.get("namespace") != self.namespace:
            return False
        return self.labels.matches(md.get("labels")) and self.fields.matches(obj)

    def offer(self, ch: Change) -> None:
        """Translate a change into what this watch sees (selector transitions become ADDED/DELETED)."""
        if self.closed:
            return
        now = self._matches(ch.obj)
        before = self._matches(ch.old) if ch.type == MODIFIED else now
        if ch.type == MODIFIED:
            if now and before:
                ev = (MODIFIED, ch.obj)
            elif now:
                ev = (ADDED, ch.obj)
            elif before:
                ev = (DELETED, ch.obj)
            else:
                return
        elif now:
            ev = (ch.type, ch.obj)
        else:
            return
        if self.queue.qsize() >= self.max_backlog:
            # A consumer this far behind is cut off, as the apiserver does; it resumes from its last rv.
            self.close()
            return
        self.queue.put_nowait(ev)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)


class Store:
    """In-memory objects for every served resource, with the semantics of etcd behind an apiserver."""

    def __init__(self, window: int = 20_000, seed: int | None = None,
                 clock: Callable[[], str] = utcnow, sim_now: Callable[[], float] = time.monotonic) -> None:
        self.rng = random.Random(seed)
        self.clock = clock          # wall-clock timestamps written into objects
        self.sim_now = sim_now      # seconds on the simulation clock: when grace periods end
        self._rv = 0
        self._objs: dict[str, dict[Key, Obj]] = {r.key: {} for r in RESOURCES if r.key not in VIRTUAL}
        self._sorted: dict[str, list[Key] | None] = {k: None for k in self._objs}
        self._log: deque[Change] = deque(maxlen=window)
        self._oldest_rv = 0  # resuming from an rv below this gives 410
        self._watches: set[Watch] = set()
        self._listeners: list[Listener] = []
        self.admission: list[Admission] = []
        self._children: dict[str, set[tuple[str, str, str]]] = {}  # owner uid -> {(rkey, ns, name)}
        self._graceful: dict[tuple[str, Key], float] = {}  # (rkey, key) -> sim time its grace period ends
        self._waiting: dict[str, tuple[str, Key]] = {}  # uid of a foreground delete -> where it is stored
        self._ns_terminating: set[str] = set()

    # ------------------------------------------------------------------ basics
    @property
    def resource_version(self) -> int:
        return self._rv

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def subscribe(self, listener: Listener) -> None:
        """In-process controllers hear every committed change, synchronously, in commit order."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, ch: Change) -> None:
        self._log.append(ch)
        if len(self._log) == self._log.maxlen:
            self._oldest_rv = self._log[0].rv
        for w in list(self._watches):
            if w.closed:
                self._watches.discard(w)
            elif w.rt.key == ch.rkey:
                w.offer(ch)
        for fn in list(self._listeners):
            fn(ch)

    def _index_owners(self, rkey: str, obj: Obj, add: bool) -> None:
        md = obj.get("metadata", {})
        ref = (rkey, md.get("namespace", ""), md.get("name", ""))
        for o in md.get("ownerReferences") or ():
            uid = o.get("uid")
            if not uid:
                continue
            if add:
                self._children.setdefault(uid, set()).add(ref)
            else:
                s = self._children.get(uid)
                if s:
                    s.discard(ref)
                    if not s:
                        del self._children[uid]

    def _table(self, rt: ResourceType) -> dict[Key, Obj]:
        return self._objs[rt.key]

    @staticmethod
    def _key(rt: ResourceType, namespace: str | None, name: str) -> Key:
        return ((namespace or "") if rt.namespaced else "", name)

    # ------------------------------------------------------------------ reads
    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self._table(rt).get(self._key(rt, namespace, name))
        if obj is None:
            raise not_found(rt.plural, name, rt.group)
        return obj

    def try_get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        return self._table(rt).get(self._key(rt, namespace, name))

    def items(self, rt: ResourceType, namespace: str | None = None) -> Iterable[Obj]:
        """Unordered iteration for controllers (cheap; no sorting, no copies)."""
        table = self._table(rt)
        if namespace is None or not rt.namespaced:
            return list(table.values())
        return [o for (ns, _), o in table.items() if ns == namespace]

    def count(self, rt: ResourceType) -> int:
        return len(self._table(rt))

    def children_of(self, uid: str) -> list[tuple[str, str, str]]:
        return sorted(self._children.get(uid, ()))

    def _sorted_keys(self, rt: ResourceType) -> list[Key]:
        keys = self._sorted[rt.key]
        if keys is None:
            keys = sorted(self._table(rt))
            self._sorted[rt.key] = keys
        return keys

    def list(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
        limit: int = 0,
        continue_token: str | None = None,
    ) -> tuple[list[Obj], int, str | None, int | None]:
        """Items in key order, the list's resourceVersion, the continue token, remaining count.

        The remaining count is kube-apiserver's `metadata.remainingItemCount`: set only on a page that has a
        continue token, and only when the list has no label or field selector (the etcd store counts keys
        under the list's prefix, which is per namespace for a namespaced list, and cannot count matches;
        staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go GetList, `opts.Predicate.Empty()`). It is
        the number of items after this page, so items so far plus it is the whole list.
        """
        import bisect

        table = self._table(rt)
        keys = self._sorted_keys(rt)
        list_rv = self._rv
        start = 0
        if continue_token:
            list_rv, after = _decode_continue(continue_token)
            if list_rv < self._oldest_rv:
                raise gone("The provided continue parameter is too old to display a consistent list result. "
                           "You can start a new list without the continue parameter.")
            start = bisect.bisect_right(keys, after)
        out: list[Obj] = []
        ns = namespace if rt.namespaced else None
        i = start
        n = len(keys)
        end = n
        if ns:
            i = max(i, bisect.bisect_left(keys, (ns, "")))
            end = bisect.bisect_left(keys, (ns + "\0", ""))  # the first key of any later namespace
        while i < end:
            k = keys[i]
            i += 1
            obj = table.get(k)
            if obj is None:
                continue
            if labels and not labels.matches(obj.get("metadata", {}).get("labels")):
                continue
            if fields and not fields.matches(obj):
                continue
            out.append(obj)
            if limit and len(out) >= limit:
                break
        token = None
        remaining = None
        if limit and len(out) >= limit and i < end:
            # Only hand out a token when something may follow.
            token = _encode_continue(list_rv, keys[i - 1])
            if not labels and not fields:
                remaining = end - i  # the sorted keys are rebuilt on every write: each one is an object
        return out, list_rv, token, remaining

    # ------------------------------------------------------------------ writes
    def _admit(self, rt: ResourceType, obj: Obj, old: Obj | None, op: str) -> None:
        for hook in self.admission:
            hook(rt, obj, old, op)

    def create(self, rt: ResourceType, obj: Obj, namespace: str | None = None, dry_run: bool = False) -> Obj:
        obj = clone(obj)
        md = obj.setdefault("metadata", {})
        if rt.namespaced:
            ns = namespace or md.get("namespace") or "default"
            if md.get("namespace") and namespace and md["namespace"] != namespace:
                raise ApiError(400, "the namespace of the provided object does not match the namespace sent on "
                                    "the request", "BadRequest")
            md["namespace"] = ns
            if self.try_get(NAMESPACES, None, ns) is None:
                raise not_found("namespaces", ns)
            nsobj = self.try_get(NAMESPACES, None, ns)
            if nsobj and (nsobj.get("status") or {}).get("phase") == "Terminating":
                raise ApiError(403, f'{rt.plural} "{md.get("name") or md.get("generateName", "")}" is forbidden: '
                                    f"unable to create new content in namespace {ns} because it is being terminated",
                               "Forbidden")
        else:
            md.pop("namespace", None)
        if not md.get("name"):
            if md.get("generateName"):
                for _ in range(10):
                    candidate = md["generateName"] + rand_suffix(5, self.rng)
                    if self.try_get(rt, md.get("namespace"), candidate) is None:
                        md["name"] = candidate
                        break
            else:
                raise ApiError(422, f"{rt.kind} \"\" is invalid: metadata.name: Required value: name or "
                                    "generateName is required", "Invalid",
                               {"kind": rt.kind, "group": rt.group, "causes": [
                                   {"reason": "FieldValueRequired", "message": "Required value: name or "
                                    "generateName is required", "field": "metadata.name"}]})
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        # uid and timestamp first, so admission can default fields from them (Job selectors use the uid).
        md["uid"] = str(_uuid.UUID(int=self.rng.getrandbits(128), version=4))
        md["creationTimestamp"] = self.clock()
        self._admit(rt, obj, None, "CREATE")
        key = self._key(rt, md.get("namespace"), md["name"])
        if key in self._table(rt):
            raise already_exists(rt.plural, md["name"], rt.group)
        md["generation"] = 1
        md.pop("deletionTimestamp", None)
        md.pop("managedFields", None)
        if dry_run:
            md["resourceVersion"] = ""
            return obj
        rv = self._next_rv()
        md["resourceVersion"] = str(rv)
        self._table(rt)[key] = obj
        self._sorted[rt.key] = None
        self._index_owners(rt.key, obj, True)
        self._emit(Change(rv, rt.key, ADDED, obj, None))
        return obj

    def update(
        self,
        rt: ResourceType,
        obj: Obj,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        check_rv: bool = True,
        owned: bool = False,
    ) -> Obj:
        """PUT semantics: a stale metadata.resourceVersion gives 409; `status` writes only status.

        `owned`: `obj` is the caller's private copy, handed over (not copied again)."""
        new = obj if owned else clone(obj)
        md = new.setdefault("metadata", {})
        name = name or md.get("name")
        if not name:
            raise ApiError(400, "name is required", "BadRequest")
        if md.get("name") and md["name"] != name:
            raise ApiError(400, f"the name of the object ({md['name']}) does not match the name on the URL "
                                f"({name})", "BadRequest")
        ns = (namespace or md.get("namespace") or "default") if rt.namespaced else ""
        key = self._key(rt, ns, name)
        old = self._table(rt).get(key)
        if old is None:
            raise not_found(rt.plural, name, rt.group)
        omd = old["metadata"]
        if check_rv and md.get("resourceVersion") and md["resourceVersion"] != omd["resourceVersion"]:
            raise conflict(rt.plural, name, rt.group)
        if md.get("uid") and md["uid"] != omd["uid"]:
            raise conflict(rt.plural, name, rt.group, f"Precondition failed: UID in precondition: {md['uid']}, "
                                                      f"UID in object meta: {omd['uid']}")
        if subresource == "status":
            merged = clone(old)
            merged["status"] = new.get("status", {})
            new = merged
            md = new["metadata"]
        else:
            if "status" in rt.subresources and subresource is None:
                if "status" in old:
                    new["status"] = clone(old["status"])
                else:
                    new.pop("status", None)
            for immutable in ("uid", "creationTimestamp", "namespace", "deletionTimestamp",
                              "deletionGracePeriodSeconds"):
                if immutable in omd:
                    md[immutable] = omd[immutable]  # a deletionTimestamp, once set, cannot be cleared
                else:
                    md.pop(immutable, None)
            if omd.get("deletionTimestamp"):
                added = [f for f in md.get("finalizers") or [] if f not in (omd.get("finalizers") or [])]
                if added:
                    # apimachinery ValidateObjectMetaUpdate: ValidateNoNewFinalizers
                    msg = f"no new finalizers can be added if the object is being deleted, found new finalizers {added}"
                    raise ApiError(422, f'{rt.kind} "{name}" is invalid: metadata.finalizers: Forbidden: {msg}',
                                   "Invalid", {"name": name, "group": rt.group, "kind": rt.kind, "causes": [
                                       {"reason": "FieldValueForbidden", "message": f"Forbidden: {msg}",
                                        "field": "metadata.finalizers"}]})
            md["name"] = name
            if not rt.namespaced:
                md.pop("namespace", None)
            gen = omd.get("generation", 1)
            if _spec_of(new) != _spec_of(old):
                gen += 1
            md["generation"] = gen
        new["apiVersion"] = rt.api_version
        new["kind"] = rt.kind
        self._admit(rt, new, old, "UPDATE")
        if _same(new, old):
            return old  # no-op writes do not bump the resourceVersion, as etcd does not see them
        if dry_run:
            return new
        if omd.get("deletionTimestamp") and not md.get("finalizers") and not omd.get("deletionGracePeriodSeconds") \
                and rt.key != "namespaces":
            # generic registry ShouldDeleteDuringUpdate: the last finalizer is gone from an object whose
            # deletion waited only for finalizers, so the update completes the delete
            md.pop("finalizers", None)
            return self._remove(rt, key, old, new)
        return self._store_modified(rt, key, old, new)

    def mutate(self, rt: ResourceType, namespace: str | None, name: str, fn: Callable[[Obj], None],
               subresource: str | None = None) -> Obj:
        """Read-modify-write for controllers: `fn` edits a private copy; no conflict check."""
        cur = clone(self.get(rt, namespace, name))
        fn(cur)
        return self.update(rt, cur, namespace, name, subresource=subresource, check_rv=False, owned=True)

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        propagation: str | None = None,
        dry_run: bool = False,
        preconditions: dict[str, str] | None = None,
        grace_period: int | None = None,
    ) -> Obj:
        """DELETE as kube-apiserver does it; returns the object as it is afterwards (gone or terminating).

        A pod with a grace period is only marked (`deletionTimestamp`, `deletionGracePeriodSeconds`) and
        stays until `finish_due` deletes it again with grace 0 (see `console.sim.graceful`); finalizers
        hold any object until they are removed (`update`). Dependents by ownerReferences are orphaned
        (Orphan), collected once the object is gone (Background), or deleted first while the object waits
        with the `foregroundDeletion` finalizer (Foreground), as the garbage collector does.
        """
        key = self._key(rt, namespace, name)
        old = self._table(rt).get(key)
        if old is None:
            raise not_found(rt.plural, name, rt.group)
        pre = preconditions or {}
        if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
            raise conflict(rt.plural, name, rt.group, f"Precondition failed: UID in precondition: {pre['uid']}, "
                                                      f"UID in object meta: {old['metadata']['uid']}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, name, rt.group, "Precondition failed: resourceVersion mismatch")
        if grace_period is not None and grace_period < 0:
            grace_period = 1  # rest/delete.go BeforeDelete: negative values are treated as 1 s
        self._admit(rt, old, old, "DELETE")
        md = old["metadata"]
        if md.get("deletionTimestamp"):
            return old if dry_run else self._delete_again(rt, key, old, grace_period)
        grace = graceful.pod_grace(old, grace_period) if rt.key == "pods" else 0
        if dry_run:
            return old
        uid = md["uid"]
        policy = propagation or "Background"
        if policy == "Orphan":
            self._orphan(uid)
        if rt.key == "namespaces":
            return self._delete_namespace(key, old)
        foreground = policy == "Foreground" and bool(self._children.get(uid))
        if grace > 0 or foreground or md.get("finalizers"):
            marked = self._mark(rt, key, old, grace, FOREGROUND if foreground else None)
            if foreground:
                self._delete_dependents(uid)
                if uid in self._waiting and not self._children.get(uid):
                    return self._release(uid) or marked
                return self._table(rt).get(key) or marked
            return marked
        return self._remove(rt, key, old, old)

    def _delete_again(self, rt: ResourceType, key: Key, old: Obj, grace_period: int | None) -> Obj:
        """A delete of an object already being deleted: only a shorter grace period changes anything
        (rest/delete.go BeforeDelete); with none left and no finalizers it goes now."""
        md = old["metadata"]
        cur = md.get("deletionGracePeriodSeconds") or 0
        if not cur:
            if md.get("finalizers") or rt.key == "namespaces":
                return old  # held by finalizers, or a namespace still emptying
            return self._remove(rt, key, old, old)
        if grace_period is None or grace_period >= cur:
            return old  # graceful deletion is pending
        new = clone(old)
        nmd = new["metadata"]
        nmd["deletionTimestamp"] = graceful.shift(md["deletionTimestamp"], grace_period - cur)
        nmd["deletionGracePeriodSeconds"] = grace_period
        gk = (rt.key, key)
        started = self._graceful.pop(gk, self.sim_now() + cur) - cur
        if grace_period == 0 and not nmd.get("finalizers"):
            return self._remove(rt, key, old, new)
        if grace_period > 0:
            self._graceful[gk] = started + grace_period
        return self._store_modified(rt, key, old, new)

    def _mark(self, rt: ResourceType, key: Key, old: Obj, grace: int, finalizer: str | None) -> Obj:
        """Set deletionTimestamp (now + grace) and deletionGracePeriodSeconds; the object stays."""
        new = clone(old)
        md = new["metadata"]
        md["deletionTimestamp"] = graceful.shift(self.clock(), grace)
        md["deletionGracePeriodSeconds"] = grace
        if md.get("generation"):
            md["generation"] = int(md["generation"]) + 1  # BeforeDelete bumps the generation once
        if finalizer and finalizer not in (md.get("finalizers") or []):
            md["finalizers"] = [*(md.get("finalizers") or []), finalizer]
            self._waiting[md["uid"]] = (rt.key, key)
        if grace > 0:
            self._graceful[(rt.key, key)] = self.sim_now() + grace
        return self._store_modified(rt, key, old, new)

    def _store_modified(self, rt: ResourceType, key: Key, old: Obj, new: Obj) -> Obj:
        rv = self._next_rv()
        new["metadata"]["resourceVersion"] = str(rv)
        self._index_owners(rt.key, old, False)
        self._table(rt)[key] = new
        self._index_owners(rt.key, new, True)
        self._emit(Change(rv, rt.key, MODIFIED, new, old))
        return new

    def _remove(self, rt: ResourceType, key: Key, stored: Obj, last: Obj) -> Obj:
        """Take the object out of the store now (DELETED shows `last`), then let its dependents, a
        foreground owner waiting for it and a terminating namespace react."""
        uid = stored["metadata"]["uid"]
        del self._table(rt)[key]
        self._sorted[rt.key] = None
        self._index_owners(rt.key, stored, False)
        self._graceful.pop((rt.key, key), None)
        self._waiting.pop(uid, None)
        rv = self._next_rv()
        gone_obj = clone(last)
        gone_obj["metadata"]["resourceVersion"] = str(rv)
        self._emit(Change(rv, rt.key, DELETED, gone_obj, stored))
        self._collect(uid)
        for ref in stored["metadata"].get("ownerReferences") or ():
            owner = ref.get("uid")
            if owner in self._waiting and not self._children.get(owner):
                self._release(owner)
        ns = stored["metadata"].get("namespace")
        if rt.namespaced and ns in self._ns_terminating:
            self._finish_namespace(ns)
        return gone_obj

    def _release(self, uid: str) -> Obj | None:
        """The garbage collector's last step of a foreground delete: its dependents are gone, so the
        `foregroundDeletion` finalizer comes off (and with no finalizer left, the object goes)."""
        from .resources import BY_KEY
        rkey, key = self._waiting.pop(uid, ("", ("", "")))
        rt = BY_KEY.get(rkey)
        obj = self._table(rt).get(key) if rt is not None else None
        if rt is None or obj is None or obj["metadata"].get("uid") != uid:
            return None
        new = clone(obj)
        md = new["metadata"]
        md["finalizers"] = [f for f in md.get("finalizers") or [] if f != FOREGROUND]
        if not md["finalizers"]:
            del md["finalizers"]
            if not md.get("deletionGracePeriodSeconds"):
                return self._remove(rt, key, obj, new)
        return self._store_modified(rt, key, obj, new)

    def _delete_dependents(self, uid: str) -> None:
        """Foreground: delete what the object owns now (with Foreground again for dependents that own
        something themselves); a dependent with another live owner only loses this owner's reference."""
        from .resources import BY_KEY
        for rkey, ns, nm in list(self._children.get(uid, ())):
            rt = BY_KEY[rkey]
            child = self.try_get(rt, ns, nm)
            if child is None:
                continue
            cuid = child["metadata"]["uid"]
            owners = [r.get("uid") for r in child["metadata"].get("ownerReferences") or []]
            if any(o != uid and self._uid_exists(o) for o in owners):
                def drop(o: Obj) -> None:
                    refs = [r for r in o["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
                    o["metadata"]["ownerReferences"] = refs
                self.mutate(rt, ns, nm, drop)
                continue
            self.delete(rt, ns, nm, propagation="Foreground" if self._children.get(cuid) else "Background")

    def finish_due(self, now: float | None = None) -> int:
        """Delete again, with grace 0, every pod whose grace period has ended by `now` (sim seconds)."""
        from .resources import BY_KEY
        t = self.sim_now() if now is None else now
        due = sorted((at, gk) for gk, at in self._graceful.items() if at <= t)
        n = 0
        for _, (rkey, key) in due:
            if self._graceful.get((rkey, key)) is None:
                continue  # went with an earlier one (its owner, its namespace)
            rt = BY_KEY[rkey]
            try:
                self.delete(rt, key[0] or None, key[1], grace_period=0)
            except ApiError:
                self._graceful.pop((rkey, key), None)
                continue
            n += 1
        return n

    @property
    def terminating(self) -> int:
        """Objects inside their grace period."""
        return len(self._graceful)

    def _orphan(self, uid: str) -> None:
        from .resources import BY_KEY
        for rkey, ns, nm in list(self._children.get(uid, ())):
            rt = BY_KEY[rkey]

            def drop(o: Obj) -> None:
                o["metadata"]["ownerReferences"] = [r for r in o["metadata"].get("ownerReferences") or []
                                                    if r.get("uid") != uid] or None
                if o["metadata"]["ownerReferences"] is None:
                    del o["metadata"]["ownerReferences"]
            if self.try_get(rt, ns, nm) is not None:
                self.mutate(rt, ns, nm, drop)
        self._children.pop(uid, None)

    def _collect(self, uid: str) -> None:
        """Garbage-collect dependents whose owners are all gone (pods among them terminate gracefully)."""
        from .resources import BY_KEY
        for rkey, ns, nm in list(self._children.get(uid, ())):
            rt = BY_KEY[rkey]
            child = self.try_get(rt, ns, nm)
            if child is None:
                continue
            owners = [r.get("uid") for r in child["metadata"].get("ownerReferences") or []]
            if any(o != uid and self._uid_exists(o) for o in owners):
                continue
            self.delete(rt, ns, nm, propagation="Background")
        self._children.pop(uid, None)

    def _uid_exists(self, uid: str | None) -> bool:
        if not uid:
            return False
        # Owners are looked up by uid only when a child has several owners: rare, so a scan is fine.
        for table in self._objs.values():
            for o in table.values():
                if o["metadata"].get("uid") == uid:
                    return True
        return False

    def _delete_namespace(self, key: Key, old: Obj) -> Obj:
        """A namespace turns Terminating, its contents are deleted, and it goes once the last of them
        (pods in their grace period too) is gone, as the namespace controller finalizes it."""
        name = key[1]
        new = clone(old)
        md = new["metadata"]
        md["deletionTimestamp"] = self.clock()
        md["deletionGracePeriodSeconds"] = 0
        new.setdefault("status", {})["phase"] = "Terminating"
        marked = self._store_modified(NAMESPACES, key, old, new)
        self._ns_terminating.add(name)
        for rt in RESOURCES:
            if rt.namespaced and rt.key not in VIRTUAL:
                for o in list(self.items(rt, name)):
                    if self.try_get(rt, name, o["metadata"]["name"]) is not None:
                        self.delete(rt, name, o["metadata"]["name"], propagation="Background")
        return self._finish_namespace(name) or marked

    def _finish_namespace(self, ns: str) -> Obj | None:
        for table in self._objs.values():
            if any(k[0] == ns for k in table):
                return None
        self._ns_terminating.discard(ns)
        key = ("", ns)
        obj = self._table(NAMESPACES).get(key)
        if obj is None:
            return None
        return self._remove(NAMESPACES, key, obj, obj)

    # ------------------------------------------------------------------ bulk load (scenarios)
    def load(self, rt: ResourceType, objs: Iterable[Obj]) -> int:
        """Insert many objects with no watch events or admission: for building large scenarios fast."""
        table = self._table(rt)
        n = 0
        for obj in objs:
            md = obj.setdefault("metadata", {})
            obj.setdefault("apiVersion", rt.api_version)
            obj.setdefault("kind", rt.kind)
            md.setdefault("uid", str(_uuid.UUID(int=self.rng.getrandbits(128), version=4)))
            md.setdefault("creationTimestamp", self.clock())
            md.setdefault("generation", 1)
            self._rv += 1
            md["resourceVersion"] = str(self._rv)
            table[self._key(rt, md.get("namespace"), md["name"])] = obj
            self._index_owners(rt.key, obj, True)
            n += 1
        self._sorted[rt.key] = None
        self._oldest_rv = self._rv  # nothing before a bulk load can be replayed
        self._log.clear()
        return n

    # ------------------------------------------------------------------ watch
    def watch(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
        resource_version: str | None = None,
    ) -> Watch:
        """Open a watch. No rv or "0": synthetic ADDED for what exists now; else replay after rv, or 410."""
        from .selectors import FieldSelector as _FS, LabelSelector as _LS
        w = Watch(rt, namespace if rt.namespaced else None, labels or _LS([]), fields or _FS([]))
        if not resource_version or resource_version == "0":
            for obj in self.list(rt, namespace, labels, fields)[0]:
                w.queue.put_nowait((ADDED, obj))
        else:
            try:
                rv = int(resource_version)
            except ValueError:
                raise ApiError(400, f"invalid resource version: {resource_version!r}", "BadRequest") from None
            if rv < self._oldest_rv or rv > self._rv:
                if rv > self._rv:
                    raise ApiError(504, f"Timeout: Too large resource version: {rv}, current: {self._rv}",
                                   "Timeout", {"causes": [{"reason": "ResourceVersionTooLarge",
                                                           "message": "Too large resource version"}],
                                               "retryAfterSeconds": 1})
                raise gone(f"too old resource version: {rv} ({self._oldest_rv})")
            for ch in self._log:
                if ch.rv > rv and ch.rkey == rt.key:
                    w.offer(ch)
        self._watches.add(w)
        return w

    def stop_watch(self, w: Watch) -> None:
        w.close()
        self._watches.discard(w)

    @property
    def open_watches(self) -> int:
        return sum(1 for w in self._watches if not w.closed)

    # ------------------------------------------------------------------ faults
    def drop_watches(self) -> int:
        n = 0
        for w in list(self._watches):
            if not w.closed:
                n += 1
            w.close()
        self._watches.clear()
        return n

    def expire_window(self) -> None:
        """Compact history: any resume from an rv older than now gets 410 Gone."""
        self._log.clear()
        self._oldest_rv = self._rv + 1
        # Keep the counter moving so resuming from the exact current rv is also "too old".
        self._rv += 1

    def restart_epoch(self, jump: int = 1_000_000) -> None:
        """As after an etcd restore: every object gets a new, larger resourceVersion; history is gone."""
        self.drop_watches()
        self._rv += jump
        for table in self._objs.values():
            for key, obj in list(table.items()):
                self._rv += 1
                obj2 = dict(obj)
                obj2["metadata"] = dict(obj["metadata"], resourceVersion=str(self._rv))
                table[key] = obj2
        self._log.clear()
        self._oldest_rv = self._rv + 1
        self._rv += 1


def _spec_of(obj: Obj) -> Any:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _same(a: Obj, b: Obj) -> bool:
    ma = {k: v for k, v in a["metadata"].items() if k not in ("resourceVersion", "managedFields")}
    mb = {k: v for k, v in b["metadata"].items() if k not in ("resourceVersion", "managedFields")}
    return ma == mb and {k: v for k, v in a.items() if k != "metadata"} == {k: v for k, v in b.items()
                                                                            if k != "metadata"}


def _encode_continue(rv: int, after: Key) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"v": "sim/1", "rv": rv, "start": list(after)})).decode()


def _decode_continue(token: str) -> tuple[int, Key]:
    try:
        d = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        return int(d["rv"]), (str(d["start"][0]), str(d["start"][1]))
    except Exception:
        raise ApiError(400, "continue key is not valid: incorrect encoded start resourceVersion", "BadRequest") \
            from None
