from greeter import greeting


def test_greeting() -> None:
    assert greeting("you").startswith("hello, you")
