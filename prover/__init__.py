"""zkrisk prover: EZKL circuits of the risk model, keys, proofs over K markets, and their EVM side.

Modules
    circuit     build_circuit(version, k, plan): settings, compiled circuit, manifest, keys (cached)
    proving     prove(circuit, vectors[K, F]) → ProofResult (decoded outputs, float-vs-circuit error)
    evm         reusable / plain Solidity verifiers, VKA words, calldata, anvil deployment and gas
    backends    CPU (default) or GPU (ICICLE build of ezkl), chosen by $ZKRISK_PROVER_BACKEND
    srs         development SRS (gen_srs) or a ceremony SRS pinned by hash
    artifacts   where committed files and cached keys live; hashing and pin checks
    errors      the ProverError tree

Trust model and what is pinned
- circuits/<model>/<version>/k<K>/manifest.json is published with the code. It pins, by sha256,
  the ONNX graph, settings.json and the calibration data, and records the ezkl version, logrows,
  scales, the calibration plan, the measured float-vs-circuit error and the SRS provenance.
- The compiled circuit is not pinned there: ezkl 23.0.5's compile_circuit output is not
  byte-deterministic (map entries serialised in varying order). Keys are: two compiles gave
  byte-identical vk and pk on the same SRS. The local keys lock (<cache>/.../keys.json) pins the
  compiled file, pk and vk built on this machine; any of them changing under it is a
  ManifestMismatchError, never a silent rebuild.
- SRS: a development SRS comes from ezkl.gen_srs and is random per machine; its toxic waste is
  known locally, so its proofs convince nobody else. Its provenance is recorded as
  "local-dev, insecure", and its vk cannot be published in the manifest (another machine would
  get another one). With a ceremony SRS (prover.srs.ceremony_srs, pinned by hash) the manifest
  pins the SRS hash and, at first key generation, the vk: every later build must reproduce that
  vk or fail.
- ezkl versions: keys and proofs are not portable across ezkl versions. Manifest and keys lock
  record the version; loading or proving with artifacts of another version raises
  EzklVersionError, so a worker pool (CPU and GPU workers alike) can never mix them.

Calibration (chosen by measurement, see circuit.PRODUCTION_PLAN and scripts/bench_prover.py):
explicit run args instead of EZKL's calibration: inputs at scale 13, parameters at scale 20 (the
0.01 unit constant at scale 13 alone cost 8 bp on CR), and per K the range-check decomposition
and inner columns: the fewest columns within two logrows steps of the smallest, at most 2^15 rows
(fewer columns: fewer commitments, less gas). The per-market Poseidon commitment (1,314 rows per
market) sets the floor on rows for batches; the matmul columns ezkl lays out grow with the batch,
so verification gas grows with K.
"""
