//! Generate the monitor's child table from the one system description.

fn main() -> Result<(), String> {
    let sys = sdf::build::system()?;
    let table = sdf::codegen::monitor_table(&sys, "recovery_monitor").map_err(|e| e.to_string())?;
    sdf::build::write_out("children.rs", &table)
}
