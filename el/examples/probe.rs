fn main() {
    let vars: serde_json::Value = serde_json::from_str(&std::env::args().nth(2).unwrap_or("{}".into())).unwrap();
    let t = std::env::args().nth(1).unwrap();
    match cti_el::Template::parse(&t) {
        Ok(t) => println!("{:?} / {:?}", t.render(&vars), t.evaluate(&vars)),
        Err(e) => println!("parse error: {e}"),
    }
}
