//! The PD's channel ids, from the names `systems/blk.xml` gives its
//! channels and interrupt (setvar_id).

fn main() -> Result<(), String> {
    sdf::build::channels_of_image("fsclient.elf", "../../systems/blk.xml")
}
