//! BEP 10 extension messages: the extension handshake (extended id 0) and
//! `ut_metadata` (BEP 9). The first byte says which the rest is, as the
//! extended message id does on the wire: 0 the handshake, anything else a
//! `ut_metadata` payload.
//!
//! An accepted handshake keeps its bounds, re-encodes to a payload that
//! decodes to the same handshake (the engine sends its own through the same
//! type), and its `m` gives ids the registry can use. An accepted
//! `ut_metadata` message stays within its size limit and re-encodes to
//! itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lt::proto::extension::{Extension, MetadataMessage, PeerExtensions, MAX_METADATA_MESSAGE};
use lt::proto::wire::{ExtHandshake, MAX_EXTENSIONS};

fuzz_target!(|data: &[u8]| {
    let Some((&id, payload)) = data.split_first() else { return };
    if id == 0 {
        if let Ok(hs) = ExtHandshake::decode(payload) {
            assert!(hs.m.len() <= MAX_EXTENSIONS);
            assert_ne!(hs.listen_port, Some(0));
            assert_ne!(hs.reqq, Some(0));
            assert_ne!(hs.metadata_size, Some(0));
            let again = ExtHandshake::decode(&hs.encode()).expect("an encoded handshake decodes");
            assert_eq!(again, hs);
            let mut ids = PeerExtensions::default();
            ids.update(&hs.m);
            for e in Extension::ALL {
                assert_eq!(ids.id(e), hs.m.get(e.name()).copied().filter(|i| *i != 0));
            }
        }
    } else if let Ok(msg) = MetadataMessage::decode(payload) {
        assert!(payload.len() <= MAX_METADATA_MESSAGE);
        let again = msg.encode();
        assert_eq!(MetadataMessage::decode(&again).expect("an encoded message decodes"), msg);
    }
});
