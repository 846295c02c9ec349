"""The local stand-in of a provisioned progress list: an .xlsx with the list's columns and
the checks SharePoint would make (XlsxWriter).

Row 1 holds the headers the local list reader looks for (the ID column first); each column
below it has a data validation like the list column's type: choices as a dropdown list
(kept on a hidden 選択肢 sheet), numbers as decimals (>= the minimum), text up to 255
characters; required columns say so in their input message. Headers are frozen.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import xlsxwriter

from automation.ports import ListColumn

ROWS = 500  # rows prepared with their checks
CHOICES_SHEET = "選択肢"
SAFE_STRINGS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


def build_list_template(id_column: str, columns: Sequence[ListColumn]) -> bytes:
    """The list as a workbook: ``id_column`` then ``columns``, with their checks."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, **SAFE_STRINGS})
    head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    ws = book.add_worksheet("一覧")
    choices = book.add_worksheet(CHOICES_SHEET)
    ws.write_string(0, 0, id_column, head)
    ws.data_validation(
        1,
        0,
        ROWS,
        0,
        {
            "validate": "integer",
            "criteria": ">=",
            "value": 1,
            "input_title": id_column[:32],
            "input_message": "項目の番号（1から順に、重複なし）。",
            "error_title": "番号は整数です",
            "error_message": f"{id_column}には1以上の整数を入力してください。",
        },
    )
    lists = 0
    for col, column in enumerate(columns, start=1):
        ws.write_string(0, col, column.name, head)
        ws.set_column(col, col, max(12, len(column.name) * 2 + 4))
        options = _rule(column)
        if column.kind == "choice":
            letter = xlsxwriter.utility.xl_col_to_name(lists)
            for index, value in enumerate(column.choices):
                choices.write_string(index, lists, value)
            options["source"] = f"='{CHOICES_SHEET}'!${letter}$1:${letter}${len(column.choices)}"
            lists += 1
        ws.data_validation(1, col, ROWS, col, options)
    ws.freeze_panes(1, 1)
    choices.hide()
    book.close()
    return buffer.getvalue()


def _rule(column: ListColumn) -> dict[str, Any]:
    must = "必須項目です。" if column.required else ""
    options: dict[str, Any] = {
        "input_title": column.name[:32],
        "error_type": "stop",
        "ignore_blank": True,
    }
    if column.kind == "choice":
        options.update(
            validate="list",
            input_message=f"{must}一覧から選んでください。"[:255],
            error_title="一覧にない値です",
            error_message=f"{column.name}は一覧から選んでください。"[:255],
        )
    elif column.kind == "number":
        low = column.minimum if column.minimum is not None else -1e15
        options.update(
            validate="decimal",
            criteria=">=",
            value=low,
            input_message=f"{must}数値で入力してください"
            + (f"（{column.minimum:g}以上）。" if column.minimum is not None else "。"),
            error_title="数値ではありません",
            error_message=f"{column.name}には数値を入力してください。",
        )
    else:
        options.update(
            validate="length",
            criteria="<=",
            value=255,
            input_message=f"{must}255文字まで入力できます。",
            error_title="長すぎます",
            error_message=f"{column.name}は255文字以内で入力してください。",
        )
    return options
