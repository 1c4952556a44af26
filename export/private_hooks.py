"""Every place this code reaches into a private name of ExecuTorch or LiteRT, each by a name of ours.

The pinned versions (pyproject.toml) have no public way to do these things: set the XNNPACK thread pool's size, load a
``.pte`` with ETDump, read a ``.pte`` and its XNNPACK graph back, list a LiteRT interpreter's ops, read XNNPACK's
FlatBuffer schema and ExecuTorch's flatc, serialise an INT8 resize, and the three size passes of the ``.pte`` lowering (export/executorch_pte.py) that replace functions of the serialiser. A
pinned upgrade may rename any of them; then :func:`need` fails with one line naming our hook, the private name and the
installed version, instead of an AttributeError deep in an export. ``tests/test_private_hooks.py`` resolves every
hook in :data:`HOOKS` against the installed packages, so such an upgrade fails CI by name.
"""
from __future__ import annotations

import importlib
from importlib import metadata

from seemore_edge.core.errors import UserError

# hook -> (distribution, module, attribute path): what each of our names stands on.
HOOKS = {
    "executorch-threadpool-size": ("executorch", "executorch.extension.pybindings.portable_lib",
                                   "_unsafe_reset_threadpool"),
    "executorch-threadpool-count": ("executorch", "executorch.extension.pybindings.portable_lib",
                                    "_threadpool_get_thread_count"),
    "executorch-load-with-etdump": ("executorch", "executorch.extension.pybindings.portable_lib",
                                    "_load_for_executorch"),
    "xnnpack-schema": ("executorch", "executorch.backends.xnnpack.serialization.xnnpack_graph_serialize",
                       "_get_schema_bytes"),
    "executorch-flatc": ("executorch", "executorch.exir._serialize._flatbuffer", "_get_flatc_path"),
    "pass number-constants": ("executorch", "executorch.backends.xnnpack.operators.node_visitor", "hashlib"),
    "pass share-vectors": ("executorch", "executorch.backends.xnnpack.serialization.xnnpack_graph_serialize",
                           "convert_to_flatbuffer"),
    "pass inline-channel-scales": ("executorch", "executorch.backends.xnnpack.operators.node_visitor",
                                   "NodeVisitor.get_quant_params"),
    "executorch-read-pte": ("executorch", "executorch.exir._serialize._program", "deserialize_pte_binary"),
    "xnnpack-header": ("executorch", "executorch.backends.xnnpack.serialization.xnnpack_graph_serialize",
                       "XNNHeader"),
    "executorch-node-visitors": ("executorch", "executorch.backends.xnnpack.operators.node_visitor",
                                 "_node_visitor_dict"),
    "litert-ops-details": ("ai-edge-litert", "ai_edge_litert.interpreter", "Interpreter._get_ops_details"),
}


def need(hook: str):
    """The object behind ``hook``, or one line saying which private name the installed version lacks."""
    dist, module_name, attr = HOOKS[hook]
    try:
        obj = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "not installed"
        raise UserError(f"{dist} {version} has no {module_name}.{attr}, which our '{hook}' hook needs "
                        "(export/private_hooks.py; pinned versions in pyproject.toml)") from None
    return obj


def executorch_threads(threads: int) -> None:
    """Size ExecuTorch's process-wide thread pool, which the XNNPACK delegate runs on, if it is not that size."""
    if need("executorch-threadpool-count")() != threads:
        need("executorch-threadpool-size")(threads)


def load_pte_with_etdump(path: str):
    """A ``.pte`` loaded so that XNNPACK's per-operator timings are recorded (export/profile_pte.py)."""
    return need("executorch-load-with-etdump")(path, enable_etdump=True, debug_buffer_size=0)


def litert_ops(interpreter) -> list[dict]:
    """The ops of a LiteRT interpreter (after delegation: one DELEGATE op per XNNPACK partition)."""
    return need("litert-ops-details")(interpreter)
