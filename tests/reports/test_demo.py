"""`gaincell demo`: argument wiring, the plan, and resuming (steps with outputs are skipped)."""

from __future__ import annotations

from pathlib import Path

from gaincell.cli import build_parser, main
from gaincell.demo import DemoConfig, plan, run_plan


def test_subcommands_registered():
    parser = build_parser()
    for argv in (["report"], ["sweep"], ["bench-gpu"], ["demo", "--dry-run"]):
        args = parser.parse_args(argv)
        assert callable(args.func)


def test_every_step_parses_with_the_real_cli(tmp_path):
    parser = build_parser()
    known = set(parser._subparsers._group_actions[0].choices)
    for step in plan(tmp_path, tmp_path / "text.txt", DemoConfig()):
        if step.argv[0] in known:  # layers still being built are checked once they register
            parser.parse_args(step.argv)


def test_dry_run_lists_the_chain(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("hello\n")
    assert main(["demo", "--dry-run", "--text", str(text), "--out", str(tmp_path / "d"), "--train-steps", "7"]) == 0
    out = capsys.readouterr().out
    order = ["characterize", "fit", "train-base", "adapt", "finetune", "eval", "bench-gpu", "sweep", "report"]
    pos = [out.index(f"gaincell {name} ") for name in order]
    assert pos == sorted(pos) and "--steps 7" in out


def test_run_plan_resumes_and_stops_on_failure(tmp_path):
    steps = plan(tmp_path, tmp_path / "t.txt", DemoConfig())
    ran = []
    failed = []

    def runner(argv):
        ran.append(argv[0])
        step = next(s for s in steps if s.argv == argv)
        if step.name == "finetune" and not failed:
            failed.append(step.name)
            return 3  # the first attempt fails
        Path(step.done).parent.mkdir(parents=True, exist_ok=True)
        Path(step.done).write_text("{}")
        return 0

    assert run_plan(steps, runner) == 3
    n_cells = sum(s.name.startswith("characterize ") for s in steps)
    assert n_cells >= 1 and ran == ["characterize"] * n_cells + ["fit", "train-base", "adapt", "finetune"]
    ran.clear()
    assert run_plan(steps, runner) == 0
    assert ran[0] == "finetune" and ran[-1] == "report" and "characterize" not in ran


def test_run_plan_reports_a_crashing_step(tmp_path, capsys):
    steps = plan(tmp_path, tmp_path / "t.txt", DemoConfig())[:2]

    def runner(argv):
        raise RuntimeError("boom")

    assert run_plan(steps, runner) == 1
    assert f"step '{steps[0].name}' raised RuntimeError: boom" in capsys.readouterr().out


def test_validation_split_is_the_held_out_tail(tmp_path):
    from gaincell.demo import write_validation_split

    text = tmp_path / "t.txt"
    text.write_text("a" * 900 + "b" * 100)
    out = write_validation_split(text, tmp_path / "v" / "val.txt")
    assert out.read_text() == "b" * 100


def test_resume_with_other_settings_is_refused(tmp_path, capsys, monkeypatch):
    text = tmp_path / "t.txt"
    text.write_text("a" * 900 + "b" * 100)
    csv = tmp_path / "iv.csv"
    csv.write_text("v_store_v,v_in_v,i_out_a\n0,0.9,0\n")
    base = ["demo", "--text", str(text), "--out", str(tmp_path / "d"), "--cells", "none", "--fit-csv", str(csv)]
    runs = []
    import gaincell.demo as demo

    monkeypatch.setattr(demo, "run_plan", lambda steps, runner, force=False: runs.append(len(steps)) or 0)
    assert main(base + ["--train-steps", "5"]) == 0
    assert main(base + ["--train-steps", "5"]) == 0
    assert main(base + ["--train-steps", "6"]) == 2
    assert "rerun with --force" in capsys.readouterr().err
    assert main(base + ["--train-steps", "6", "--force"]) == 0
    assert runs == [9, 9, 9]
    assert (tmp_path / "d" / "data" / "validation.txt").read_text() == "b" * 100
