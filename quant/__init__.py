"""Fixed routed experts, the deploy form, and INT8 quantization-aware training."""
import logging
import warnings

# At import, torchao tries to load its CUDA-only kernels and logs a warning per file on a CPU machine, and registers an
# enum in a way torch calls deprecated; PT2E uses neither, so the warnings would only alarm users.
logging.getLogger("torchao").setLevel(logging.ERROR)
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
# torch's own pytree code trips its own deprecation of LeafSpec when an exported or prepared graph is copied (copyreg);
# nothing a user of this package can change.
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)
