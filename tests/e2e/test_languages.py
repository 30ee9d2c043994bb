"""Every string a person reads is in their language: Chinese by default, English after the switch.

Data (names, numbers, codes, the engine's own reasons) is marked `translate="no"` in the pages and left out; what
remains must hold no Latin word in Chinese and no Chinese character in English.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import Person

VISIBLE_TEXT = """exclude => {
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, element = node.parentElement;
    if (!element || element.closest('[translate="no"], [lang]:not(html), script, style, title')) continue;
    if (exclude && element.closest(exclude)) continue;
    const text = node.textContent.trim();
    if (text) found.push(text);
  }
  for (const element of document.querySelectorAll('[placeholder], [aria-label]')) {
    if (element.closest('[translate="no"]') || (exclude && element.closest(exclude))) continue;
    for (const name of ['placeholder', 'aria-label']) {
      const value = element.getAttribute(name);
      if (value) found.push(value);
    }
  }
  return found;
}"""  # `exclude`: a CSS selector of elements whose words are not the page's own (null: none)
# Names the page shows in both languages: file formats, a hash, lab levels, the date pattern, rule and grade ids.
KEEP_LATIN = re.compile(r"\b(PDF|PNG|JPEG|MB|CSV|JSON|SHA-256|BSL-[1-4]|YYYY-MM-DD|[RWEDAC]\d+)\b")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
CHINESE = re.compile(r"[\u3400-\u9fff]")

PAGES = {
    "xiamen.applicant": ["/ui/applicant/applications", "/ui/applicant/applications/new", "/ui/applicant/precheck",
                         "/ui/applicant/certificates", "/ui/applicant/enterprise", "/ui/applications/1",
                         "/ui/certificates/1", "/ui/enterprise/profile", "/ui/enterprise/users"],
    "xiamen.acceptor": ["/ui/review/queue", "/ui/applications/2"],
    "xiamen.port_officer": ["/ui/port/", "/ui/port/certificates/1", "/ui/port/reversals"],
    "xiamen.auditor": ["/ui/audit/", "/ui/audit/write-offs", "/ui/audit/ledger-check",
                       "/ui/audit/trail?object_type=application&object_id=1"],
    "xiamen.expert": ["/ui/expert/"],
}  # fmt: skip


def untranslated(person: Person, path: str, english: bool) -> list[str]:
    texts = person.go(path).evaluate(VISIBLE_TEXT, None)
    if not english:  # every main page's screenshot, in the default language
        person.shot(re.sub(r"[^a-z0-9]+", "-", path.removeprefix("/ui/").split("?")[0]).strip("-") or "home")
    if english:
        return [text for text in texts if CHINESE.search(text)]
    return [text for text in texts if LATIN_WORD.search(KEEP_LATIN.sub("", text))]


@pytest.mark.parametrize("username", sorted(PAGES))
def test_main_pages_have_no_untranslated_string_in_either_language(person, username: str) -> None:
    someone = person(username)
    chinese = {path: untranslated(someone, path, english=False) for path in PAGES[username]}
    someone.page.click("[data-switch-language]")
    someone.page.wait_for_load_state()
    assert someone.page.locator("html").get_attribute("lang") == "en"
    english = {path: untranslated(someone, path, english=True) for path in PAGES[username]}
    assert {path: found for path, found in chinese.items() if found} == {}
    assert {path: found for path, found in english.items() if found} == {}
