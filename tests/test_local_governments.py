"""Specs for the shipped national local-government code list (全国地方公共団体コード)."""

from __future__ import annotations

from collections import Counter

import pytest

from automation import local_governments as lg

# 群馬県の35市町村, in code order (総務省の一覧).
GUNMA = {
    "102016": "前橋市",
    "102024": "高崎市",
    "102032": "桐生市",
    "102041": "伊勢崎市",
    "102059": "太田市",
    "102067": "沼田市",
    "102075": "館林市",
    "102083": "渋川市",
    "102091": "藤岡市",
    "102105": "富岡市",
    "102113": "安中市",
    "102121": "みどり市",
    "103446": "榛東村",
    "103454": "吉岡町",
    "103667": "上野村",
    "103675": "神流町",
    "103829": "下仁田町",
    "103837": "南牧村",
    "103845": "甘楽町",
    "104213": "中之条町",
    "104248": "長野原町",
    "104256": "嬬恋村",
    "104264": "草津町",
    "104281": "高山村",
    "104299": "東吾妻町",
    "104434": "片品村",
    "104442": "川場村",
    "104485": "昭和村",
    "104493": "みなかみ町",
    "104647": "玉村町",
    "105210": "板倉町",
    "105228": "明和町",
    "105236": "千代田町",
    "105244": "大泉町",
    "105252": "邑楽町",
}


def test_gunma_has_its_35_municipalities_with_their_codes() -> None:
    """群馬県: the prefecture itself and exactly its 35 cities, towns and villages."""
    entries = lg.of_prefecture("群馬県")
    assert entries[0] == lg.LocalGovernment("100005", "群馬県", "群馬県", "prefecture")
    assert {e.code: e.name for e in entries[1:]} == GUNMA


def test_every_prefecture_is_listed_once_with_its_code() -> None:
    """47 prefectures, 北海道 010006 to 沖縄県 470007, each code ending 000 and its check digit."""
    prefectures = [e for e in lg.all_governments() if e.kind == "prefecture"]
    assert len(prefectures) == 47
    assert (prefectures[0].code, prefectures[0].name) == ("010006", "北海道")
    assert (prefectures[-1].code, prefectures[-1].name) == ("470007", "沖縄県")
    assert all(e.code[2:5] == "000" for e in prefectures)


def test_the_list_has_the_counts_of_the_national_list() -> None:
    """792 cities, 23 special wards, 743 towns, 183 villages and 171 designated-city wards."""
    counts = Counter(e.kind for e in lg.all_governments())
    assert counts == {
        "prefecture": 47,
        "city": 792,
        "special_ward": 23,
        "town": 743,
        "village": 183,
        "ward": 171,
    }


def test_every_code_carries_its_check_digit() -> None:
    """The sixth digit of every code is the modulus-11 check digit of the first five."""
    assert all(lg.check_digit(e.code[:5]) == int(e.code[5]) for e in lg.all_governments())


def test_a_code_is_found_with_or_without_its_check_digit() -> None:
    """102016 and 10201 both find 前橋市; a wrong check digit finds nothing."""
    assert lg.by_code("102016") == lg.by_code("10201") == lg.find("前橋市")[0]
    assert lg.by_code("102017") is None
    assert lg.by_code("９９９９９") is None


def test_a_name_in_several_prefectures_is_told_apart_by_prefecture() -> None:
    """府中市 is in 東京都 and 広島県; the prefecture picks one."""
    assert {e.prefecture for e in lg.find("府中市")} == {"東京都", "広島県"}
    (tokyo,) = lg.find("府中市", "東京都")
    assert tokyo.code == "132063"


def test_a_name_with_its_prefecture_in_front_is_found() -> None:
    """群馬県前橋市 is 前橋市; a designated city's ward is found by its full name."""
    assert lg.find("群馬県前橋市") == lg.find("前橋市")
    assert [e.kind for e in lg.find("さいたま市浦和区")] == ["ward"]


def test_wards_follow_hamamatsus_reorganisation() -> None:
    """浜松市 has had three wards since 2024-01-01: 中央区, 浜名区, 天竜区."""
    wards = [e.name for e in lg.of_prefecture("静岡県") if e.name.startswith("浜松市")]
    assert wards == ["浜松市", "浜松市天竜区", "浜松市中央区", "浜松市浜名区"]


def test_a_typo_finds_the_municipality_meant() -> None:
    """前僑市 is closest to 前橋市, in 群馬県."""
    assert lg.similar("前僑市", "群馬県")[0].code == "102016"


def test_a_check_digit_needs_five_digits() -> None:
    """A code that is not five digits has no check digit."""
    with pytest.raises(ValueError, match="five digits"):
        lg.check_digit("1020")
