from screener.db.lifecycle import Database
from screener.domain.numbers import NumberAnalyser
from screener.domain.vocabulary import ListKind
from screener.lists import repo as lists_repo
from screener.lists.matching import list_matches


async def test_lookup_finds_exact_and_prefix(database: Database) -> None:
    analyser = NumberAnalyser("GB")
    async with database.sessions.begin() as session:
        block = await lists_repo.create_list(session, "scams", ListKind.NUISANCE)
        await lists_repo.add_entry(
            session, analyser, block, lists_repo.EntryInput("020 7946 0018"), "t"
        )
        await lists_repo.add_entry(
            session, analyser, block, lists_repo.EntryInput("0161 496*"), "t"
        )
    async with database.sessions() as session:
        exact = await list_matches(session, "+442079460018")
        prefix = await list_matches(session, "+441614960999")
        none = await list_matches(session, "+442079460019")
    assert [m.value for m in exact] == ["+442079460018"]
    assert [(m.value, m.is_prefix) for m in prefix] == [("+44161496", True)]
    assert none == []
