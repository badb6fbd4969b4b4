mod common;
use common::*;
use hosted::Board;

#[test]
fn hello() {
    for board in Board::ALL {
        let sys = launch(config("hello.xml", board));
        expect(&sys, "hello from hello_too");
        expect(&sys, "hello from hello_child");
        let c = expect(&sys, "hello: buf says 'prefilled by prefill_path'");
        println!("{c}");
    }
}
