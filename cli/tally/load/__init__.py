"""`tally load`: files into the raw layer, each file in one transaction, each record once.

Modules, in the order a file meets them: discovery (which files, which kind and format),
reading (bytes, checksum, gunzip), parsing (records in Arrow batches), validation (the
contract's rules, vectorised), copying (COPY into the raw table, broken records to quarantine),
duplicates (first loaded wins, conflicts), batch (the file's transaction and the commit
protocol), summary (what happened), progress (the bar on stderr); files drives them for
`tally load`. Nothing is imported here: `tally` reads the kinds' names (tally.load.kinds) at
start-up without the loader's libraries.
"""
