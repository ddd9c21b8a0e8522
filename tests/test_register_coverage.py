"""Coverage rules (`hotline assign`), deactivation, and the generated demo community."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from dispatch import register
from dispatch.db import make_engine, make_session_factory, upgrade
from dispatch.models import Channel, Household, Liaison, Resident, ResidentPhone
from dispatch.register.demo import generate_demo_register
from hotline.cli import main
from hotline.services import Services


def test_a_generated_community_has_no_gaps_and_the_reports_shape(services: Services) -> None:
    with services.sessions.begin() as session:
        summary = generate_demo_register(session, residents=600, seed=7)
    assert summary.residents == 600
    assert 5 <= summary.households / summary.liaisons <= 9  # about 8 households per liaison
    assert summary.grids == -(-summary.households // 120) and summary.landline_residents > 0
    with services.sessions() as session:
        assert not register.coverage_report(session).has_gaps
        landline_voice = session.scalar(
            select(func.count()).select_from(Resident).join(ResidentPhone).where(ResidentPhone.landline)
        )
        voice = session.scalar(select(func.count()).select_from(Resident).where(Resident.channel == Channel.VOICE))
        assert landline_voice == voice  # every landline-only resident is on voice
        shared = session.scalar(
            select(func.count()).select_from(
                select(ResidentPhone.phone).group_by(ResidentPhone.phone).having(func.count() > 1).subquery()
            )
        )
        assert shared and shared > 0  # couples sharing a phone


def export_of_generated(tmp_path: Path, name: str, seed: int) -> bytes:
    """Generate a community in a database of its own and export it."""
    engine = make_engine(f"sqlite:///{tmp_path / name}")
    upgrade(engine)
    with make_session_factory(engine).begin() as session:
        generate_demo_register(session, residents=150, seed=seed)
    with make_session_factory(engine)() as session:
        data = register.export_residents(session, register.Vocabulary.load())
    engine.dispose()
    return data


def test_the_same_seed_makes_the_same_community(tmp_path: Path) -> None:
    first = export_of_generated(tmp_path, "a.sqlite3", seed=3)
    assert first == export_of_generated(tmp_path, "b.sqlite3", seed=3)
    assert first != export_of_generated(tmp_path, "c.sqlite3", seed=4)
    assert len(first.decode("utf-8-sig").splitlines()) == 151


def test_assign_reports_planted_gaps(services: Services, environ: dict[str, str]) -> None:
    with services.sessions.begin() as session:
        generate_demo_register(session, residents=300, seed=11)
        households = list(session.scalars(select(Household).order_by(Household.id)))
        liaisons = list(session.scalars(select(Liaison).order_by(Liaison.id)))
        for household in households[:3]:  # gap 1: three households without a liaison
            household.primary_liaison = None
        for household in households[3:15]:  # gap 2: one liaison with twelve more
            household.primary_liaison = liaisons[0]
        liaisons[1].phone = None  # gap 3: a liaison nobody can text
        planted = {register.describe_address(h) for h in households[:3]}
        overloaded_name, no_phone_name = liaisons[0].name, liaisons[1].name
    result = CliRunner(env=environ).invoke(main, ["assign", "--json"])
    assert result.exit_code == 1  # gaps exist
    report = json.loads(result.output)
    assert set(report["households_without_liaison"]) == planted
    assert [x["name"] for x in report["liaisons_over_load"]] == [overloaded_name]
    assert report["liaisons_without_phone"] == [no_phone_name]
    text = CliRunner(env=environ).invoke(main, ["assign"]).output
    assert "households without a liaison: 3" in text and "liaisons over 10 households: 1" in text


def test_assign_is_clean_on_a_covered_register(services: Services, environ: dict[str, str]) -> None:
    with services.sessions.begin() as session:
        generate_demo_register(session, residents=50, seed=2)
    result = CliRunner(env=environ).invoke(main, ["assign"])
    assert result.exit_code == 0 and "households without a liaison: 0" in result.output


def test_deactivating_a_liaison_never_leaves_households_silently_unassigned(
    services: Services, environ: dict[str, str]
) -> None:
    with services.sessions.begin() as session:
        generate_demo_register(session, residents=40, seed=5)
        liaison = session.scalars(select(Liaison).order_by(Liaison.id)).first()
        assert liaison is not None and liaison.phone is not None
        phone, served = liaison.phone, len(register.households_served_by(session, liaison))
        # Take away one household's backup, so it has nowhere to go.
        orphan = session.scalars(select(Household).where(Household.primary_liaison_id == liaison.id)).first()
        assert orphan is not None
        orphan.backup_liaison = None
    result = CliRunner(env=environ).invoke(main, ["liaisons", "deactivate", "--phone", phone])
    assert result.exit_code == 0, result.output
    assert result.output.count("UNCOVERED") == 1 and result.output.count("moved to backup") >= 1
    with services.sessions() as session:
        stopped = session.scalars(select(Liaison).where(Liaison.phone == phone)).one()
        assert not stopped.active and register.households_served_by(session, stopped) == []
        report = register.coverage_report(session)
    assert [h.id for h in report.households_without_liaison] == [orphan.id]
    assert served > 1
