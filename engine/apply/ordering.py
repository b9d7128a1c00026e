"""The order of an apply's operations.

Creates and updates follow the stack's dependencies. The delete of an old object waits for
whatever depended on it: their deletes, or, when the old object goes away for good (a delete or
a create-before-destroy), their updates that stop pointing at it. A delete-then-create deletes
first and creates after.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise

from nubes.engine.apply.hooks import Op, OpKind
from nubes.engine.plan.model import Action, Change
from nubes.engine.state.model import State


def operations(changes: list[Change], prior: State) -> tuple[list[Op], dict[Op, set[Op]]]:
    ops: list[Op] = []
    apply_op: dict[str, Op] = {}  # address -> the op that brings it to its new values
    delete_op: dict[str, Op] = {}  # address -> the op that deletes its old object
    deps: dict[Op, set[Op]] = defaultdict(set)
    deposed_ops: list[Op] = []
    for c in changes:
        addr = str(c.addr)
        if c.deposed:
            deposed_ops.append(Op(OpKind.DELETE, c))
            ops.append(deposed_ops[-1])
            continue
        if c.action is Action.DELETE:
            delete_op[addr] = Op(OpKind.DELETE, c)
            ops.append(delete_op[addr])
            continue
        kind = {Action.UPDATE: OpKind.UPDATE, Action.NOOP: OpKind.NOOP}.get(c.action, OpKind.CREATE)
        apply_op[addr] = Op(kind, c)
        ops.append(apply_op[addr])
        if c.action.replaces:
            delete_op[addr] = Op(OpKind.DELETE, c)
            ops.append(delete_op[addr])
            if c.action is Action.DELETE_CREATE:
                deps[apply_op[addr]].add(delete_op[addr])
            else:
                deps[delete_op[addr]].add(apply_op[addr])
    # the instances of one resource migrate one at a time, so a service of several replicas
    # keeps serving: each starts once the one before it is gone from the old cloud
    migrating = [c for c in changes if c.action is Action.MIGRATE and not c.deposed]
    for before, after in pairwise(migrating):
        if before.addr.name == after.addr.name:
            deps[apply_op[str(after.addr)]].add(delete_op[str(before.addr)])
    for c in changes:
        op = apply_op.get(str(c.addr))
        if op is None or c.deposed:
            continue
        for dep in c.dependencies:
            if dep in apply_op:
                deps[op].add(apply_op[dep])
    # who depended on each address before this apply (state) and after it (stack)
    users: dict[str, set[str]] = defaultdict(set)
    for rs in prior.resources.values():
        for dep in rs.dependencies:
            users[dep].add(str(rs.address))
    for c in changes:
        if not c.deposed and c.action is not Action.DELETE:
            for dep in c.dependencies:
                users[dep].add(str(c.addr))
    # an object left over from an earlier replacement still uses what it used: delete it before
    # anything it depended on is deleted
    for d in deposed_ops:
        for dep in d.change.dependencies:
            if dep in delete_op:
                deps[delete_op[dep]].add(d)
        # and, like any old object, it goes only after the old objects that use it
        for user in users.get(str(d.change.addr), ()):
            if user in delete_op and user != str(d.change.addr):
                deps[d].add(delete_op[user])
    for addr, op in delete_op.items():
        gone_for_good = op.change.action in (Action.DELETE, Action.CREATE_DELETE, Action.MIGRATE)
        for user in users.get(addr, ()):
            if user == addr:
                continue
            user_delete = delete_op.get(user)
            # a create-before-destroy user of a delete-then-create object would make a cycle;
            # its old object is deleted after its new one exists, which is what matters
            if user_delete is not None and not (
                user_delete.change.action.creates_first and op.change.action is Action.DELETE_CREATE
            ):
                deps[op].add(user_delete)
            if gone_for_good and user in apply_op:
                deps[op].add(apply_op[user])
    return ops, deps
