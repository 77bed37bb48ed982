"""scripts/module-cycles.py finds a cycle through `use`, `super::` and nested `use` trees, and does
not take `mod x;` or a module's own unit tests for one."""
import os
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "module-cycles.py")


def crate(tmp_path, files):
    src = tmp_path / "src"
    for name, text in files.items():
        p = src / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return subprocess.run([sys.executable, SCRIPT, str(src)], capture_output=True, text=True)


def test_a_cycle_through_a_nested_use_tree_fails(tmp_path):
    r = crate(tmp_path, {
        "lib.rs": "mod a;\nmod steps;\n",
        "a.rs": "use crate::steps::{b::Thing, other};\n",
        "steps/mod.rs": "pub mod b;\npub fn other() {}\n",
        "steps/b.rs": "pub struct Thing;\nfn f() { super::super::a::g(); }\n",
    })
    assert r.returncode == 1, r.stdout
    assert "a.rs" in r.stdout and "steps/b.rs" in r.stdout


def test_mod_declarations_uses_of_a_parent_and_unit_tests_are_no_cycle(tmp_path):
    r = crate(tmp_path, {
        "lib.rs": "pub mod steps;\npub use steps::b::Thing;\n",
        "steps/mod.rs": "pub mod b;\npub enum StepError {}\n",
        "steps/b.rs": "use super::StepError;\n// crate::steps::mod\n"
                      "#[cfg(test)]\nmod tests { use crate::Thing; }\n",
    })
    assert r.returncode == 0, r.stdout
