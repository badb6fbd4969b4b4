//! The PD's channel ids, from the ports `system.xml` binds for its component.

fn main() -> Result<(), String> {
    sdf::build::channels_of_component("serial_client")
}
