//! The server inside someone else's poll loop (libwebsockets'
//! `test-server-extpoll`): this program owns a plain `poll(2)` loop over
//! its own table of file descriptors; the WebSocket side is a
//! [`Protocols`] table (dumb-increment-protocol and an echo as the
//! default) run by [`Driver::turn_app`] on each non-blocking socket.
//!
//! The loop is told about each socket as libwebsockets tells its user:
//! `ADD fd` when a connection starts, `CHANGE fd events` when what it
//! waits for changes (readable, writable while output is queued), `DEL fd`
//! when it ends; each is printed on stdout (the tools test reads them).
//!
//! ```text
//! cargo run -p ws-adapters --example extpoll -- --port 7682
//! ```

#[cfg(unix)]
mod imp {
    use std::collections::HashMap;
    use std::io::{self, IoSlice, Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::os::fd::{AsFd, AsRawFd, RawFd};
    use std::time::Duration;

    use clap::Parser;
    use http_upgrade::Response;
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use ws_adapters::{
        Clock, Ctx, Driver, Event, Protocol, Protocols, Running, SCRATCH, ServerOptions, Transport,
        Turn, session_config,
    };

    /// A WebSocket server in a poll(2) loop of its own.
    #[derive(Parser, Debug)]
    #[command(version, about)]
    struct Args {
        /// Port on 127.0.0.1 (0: any; the line printed on start-up tells).
        #[arg(short, long, default_value_t = 7682)]
        port: u16,
        /// SO_SNDBUF of accepted sockets, in bytes (small: writes wait for
        /// POLLOUT sooner, which shows the CHANGE announcements).
        #[arg(long)]
        sndbuf: Option<usize>,
    }

    /// dumb-increment-protocol: a number every 50 ms; "reset\n" restarts.
    struct DumbIncrement;

    impl Protocol for DumbIncrement {
        type State = u64;
        fn established(&self, cx: &mut Ctx<'_>) -> u64 {
            cx.set_timer(Duration::from_millis(50));
            0
        }
        fn event(&self, n: &mut u64, _: &mut Ctx<'_>, event: Event) {
            if matches!(&event, Event::Text(t) if t.as_str() == "reset\n") {
                *n = 0;
            }
        }
        fn timer(&self, n: &mut u64, cx: &mut Ctx<'_>) {
            let _ = cx.send_text(n.to_string());
            *n += 1;
            cx.set_timer(Duration::from_millis(50));
        }
    }

    /// Echoes data messages.
    struct Echo;

    impl Protocol for Echo {
        type State = ();
        fn established(&self, _: &mut Ctx<'_>) {}
        fn event(&self, _: &mut (), cx: &mut Ctx<'_>, event: Event) {
            if let Some(msg) = event.into_message() {
                let _ = cx.send(msg);
            }
        }
    }

    /// A non-blocking socket as the drive loop's transport.
    struct Sock<'a>(&'a mut TcpStream);

    impl Transport for Sock<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.read(buf)
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.0.write_vectored(bufs)
        }
    }

    struct Conn {
        stream: TcpStream,
        driver: Driver,
        run: Option<Running>,
        /// What the poll table asks for this fd.
        events: PollFlags,
        deadline: Option<ws_proto::Instant>,
    }

    /// The program's own table of descriptors, announcing each change.
    #[derive(Default)]
    struct PollTable {
        wanted: HashMap<RawFd, PollFlags>,
    }

    impl PollTable {
        fn add(&mut self, fd: RawFd, events: PollFlags) {
            println!("ADD {fd}");
            self.wanted.insert(fd, events);
        }
        fn change(&mut self, fd: RawFd, events: PollFlags) {
            if self.wanted.get(&fd) != Some(&events) {
                println!("CHANGE {fd} {}", describe(events));
                self.wanted.insert(fd, events);
            }
        }
        fn del(&mut self, fd: RawFd) {
            println!("DEL {fd}");
            self.wanted.remove(&fd);
        }
    }

    fn describe(e: PollFlags) -> &'static str {
        match (e.contains(PollFlags::IN), e.contains(PollFlags::OUT)) {
            (true, true) => "in+out",
            (true, false) => "in",
            (false, true) => "out",
            (false, false) => "none",
        }
    }

    pub(crate) fn main() -> io::Result<()> {
        env_logger::init();
        let args = Args::parse();
        let table = Protocols::new()
            .protocol("dumb-increment-protocol", DumbIncrement)
            .protocol("echo", Echo)
            .default_protocol("echo")
            .http(|_| Response::new(200).body("served from a poll(2) loop\n"));
        let options = table.options(ServerOptions::new(session_config(Default::default(), true)));
        let listener = TcpListener::bind(("127.0.0.1", args.port))?;
        listener.set_nonblocking(true)?;
        println!("listening on ws://{}/", listener.local_addr()?);
        let clock = Clock::new();
        let mut scratch = vec![0u8; SCRATCH];
        let mut conns: HashMap<RawFd, Conn> = HashMap::new();
        let mut fds = PollTable::default();
        loop {
            // The poll set: the listener, then every connection as its
            // last turn asked; the timeout: the earliest deadline.
            let order: Vec<RawFd> = conns.keys().copied().collect();
            let mut set = vec![PollFd::new(&listener, PollFlags::IN)];
            set.extend(order.iter().map(|fd| {
                let c = &conns[fd];
                PollFd::from_borrowed_fd(c.stream.as_fd(), c.events)
            }));
            let next = conns.values().filter_map(|c| c.deadline).min();
            let timeout = next.map(|t| {
                let d = clock.until(t);
                Timespec {
                    tv_sec: d.as_secs() as i64,
                    tv_nsec: i64::from(d.subsec_nanos()),
                }
            });
            match poll(&mut set, timeout.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let listener_ready = !set[0].revents().is_empty();
            let now = clock.now();
            let mut ready: Vec<RawFd> = order
                .iter()
                .zip(&set[1..])
                .filter(|(_, p)| !p.revents().is_empty())
                .map(|(fd, _)| *fd)
                .collect();
            drop(set);
            ready.extend(
                conns
                    .iter()
                    .filter(|(_, c)| c.deadline.is_some_and(|t| t <= now))
                    .map(|(fd, _)| *fd),
            );
            ready.sort_unstable();
            ready.dedup();
            if listener_ready {
                while let Ok((stream, peer)) = listener.accept() {
                    if let Some(size) = args.sndbuf {
                        let _ = rustix::net::sockopt::set_socket_send_buffer_size(&stream, size);
                    }
                    if let Some(fd) = accept(stream, peer, &options, clock, &mut conns) {
                        fds.add(fd, PollFlags::IN);
                        ready.push(fd);
                    }
                }
            }
            for fd in ready {
                let Some(c) = conns.get_mut(&fd) else {
                    continue;
                };
                if serve(c, &table, &mut scratch) {
                    fds.change(fd, c.events);
                } else {
                    let c = conns.remove(&fd);
                    fds.del(fd);
                    drop(c);
                }
            }
        }
    }

    fn accept(
        stream: TcpStream,
        peer: SocketAddr,
        options: &ServerOptions,
        clock: Clock,
        conns: &mut HashMap<RawFd, Conn>,
    ) -> Option<RawFd> {
        if !options.admits(peer) {
            return None;
        }
        stream.set_nonblocking(true).ok()?;
        stream.set_nodelay(true).ok()?;
        let driver = options.driver(clock, peer).ok()?;
        let fd = stream.as_raw_fd();
        conns.insert(
            fd,
            Conn {
                stream,
                driver,
                run: None,
                events: PollFlags::IN,
                deadline: None,
            },
        );
        Some(fd)
    }

    /// Turns a connection until it waits; false once it is over.
    fn serve(c: &mut Conn, table: &Protocols, scratch: &mut [u8]) -> bool {
        loop {
            let turn = c.driver.turn_app(&mut Sock(&mut c.stream), scratch);
            if c.run.is_none() && c.driver.is_open() {
                // Just opened: the protocol starts (and may set its timer
                // or send), so turn again before waiting.
                c.run = table.attach(&mut c.driver, None);
                if let Ok(Turn::Wait(_)) = turn {
                    continue;
                }
            }
            match turn {
                Ok(Turn::Event(ev)) => {
                    // Before a protocol runs there is nobody to tell.
                    if let Some(run) = c.run.as_mut() {
                        table.dispatch(run, &mut c.driver, ev);
                    }
                }
                Ok(Turn::Wait(w)) => {
                    let mut events = PollFlags::empty();
                    if w.read {
                        events |= PollFlags::IN;
                    }
                    if w.write {
                        events |= PollFlags::OUT;
                    }
                    c.events = events;
                    c.deadline = w.until;
                    return true;
                }
                Ok(_) => {
                    if let Some(run) = c.run.take() {
                        table.finish(run, None);
                    }
                    return false;
                }
                Err(e) => {
                    if let Some(run) = c.run.take() {
                        table.finish(run, Some(e));
                    }
                    return false;
                }
            }
        }
    }
}

#[cfg(unix)]
fn main() -> std::io::Result<()> {
    imp::main()
}

#[cfg(not(unix))]
fn main() {
    eprintln!("extpoll runs a poll(2) loop: Unix only");
}
