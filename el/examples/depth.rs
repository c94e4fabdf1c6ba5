fn main() {
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let what = std::env::args().nth(2).unwrap();
    let limits = cti_el::Limits { max_depth: 100000, ..Default::default() };
    let h = std::thread::Builder::new().stack_size(2 << 20).spawn(move || {
        let src = match what.as_str() {
            "paren" => format!("${{{}1{}}}", "(".repeat(n), ")".repeat(n)),
            "not" => format!("${{{}true}}", "!".repeat(n)),
            _ => format!("${{{}1}}", "a ? 1 : ".repeat(n)),
        };
        let t = cti_el::Template::parse_with(&src, &limits);
        println!("{:?}", t.as_ref().err());
        if let Ok(t) = t { println!("{:?}", t.render(&serde_json::json!({}))); }
    }).unwrap();
    h.join().unwrap();
}
