fn main() {
    vitrine_client::showroom::main();
}
